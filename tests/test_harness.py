"""Behaviour of course_lib.measuring.harness. No test asserts an absolute time: calls are counted, a
fake clock makes durations exact, and real timings are only ever compared as a ratio."""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from course_lib.measuring import harness  # noqa: E402
from course_lib.measuring.harness import Comparison, Measurement, compare, format_duration, measure  # noqa: E402

STEP = 2.0**-8  # 3.90625 ms: a binary fraction, so sums of steps are exact


class FakeClock:
    """A clock that only moves when the code under test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def work(self, seconds: float) -> Callable[..., None]:
        """A function that takes exactly ``seconds`` on this clock."""

        def fn(*args: object, **kwargs: object) -> None:
            self.now += seconds

        fn.__qualname__, fn.__module__ = "work", "__main__"  # as if defined in a notebook
        return fn


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------- measure


def test_calls_are_warmup_plus_repeats_times_number() -> None:
    calls: list[tuple] = []
    m = measure(lambda *a, **k: calls.append((a, k)), 1, 2, repeats=5, warmup=3, number=7, key="v")
    assert len(calls) == 3 + 5 * 7
    assert all(c == ((1, 2), {"key": "v"}) for c in calls)
    assert (m.repeats, m.number, m.samples.shape) == (5, 7, (5,))


def test_samples_are_seconds_per_call() -> None:
    clock = FakeClock()
    m = measure(clock.work(STEP), repeats=4, warmup=2, number=10, timer=clock)
    assert m.samples.tolist() == [STEP] * 4
    assert m.median == m.min == m.mean == STEP
    assert m.ci == (STEP, STEP)


def test_number_is_calibrated_so_a_sample_takes_a_few_milliseconds() -> None:
    clock = FakeClock()
    step = 2.0**-14  # about 61 µs: 33 calls reach 2 ms, so the 1-2-5 series stops at 50
    calls = []
    fn = clock.work(step)
    m = measure(lambda: calls.append(fn()), repeats=3, warmup=1, timer=clock)
    assert m.number == 50
    assert 50 * step >= harness.TARGET_SAMPLE_SECONDS > 20 * step
    calibration = 1 + 2 + 5 + 10 + 20 + 50
    assert len(calls) == 1 + calibration + 3 * 50
    assert m.samples.tolist() == [step] * 3


def test_a_slow_function_is_called_once_per_sample() -> None:
    clock = FakeClock()
    m = measure(clock.work(0.5), repeats=3, warmup=0, timer=clock)
    assert m.number == 1
    assert m.median == 0.5


def test_calibration_is_capped_when_the_clock_does_not_move() -> None:
    m = measure(lambda: None, repeats=3, warmup=0, timer=lambda: 0.0)
    assert m.number == harness.MAX_NUMBER


def test_real_clock_gives_positive_samples_for_a_tiny_function() -> None:
    m = measure(len, "abc", repeats=3, warmup=1)
    assert m.number > 1  # calibrated: one call is far too short to time on its own
    assert np.all(m.samples > 0)


@pytest.mark.parametrize("disable_gc", [True, False])
def test_gc_is_off_during_samples_only_when_asked_and_restored(disable_gc: bool) -> None:
    seen: list[bool] = []
    assert gc.isenabled()
    measure(lambda: seen.append(gc.isenabled()), repeats=3, warmup=0, number=2, disable_gc=disable_gc)
    assert seen == [not disable_gc] * 6
    assert gc.isenabled()


def test_gc_is_restored_when_the_function_raises() -> None:
    def boom() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        measure(boom, warmup=0, number=1)
    assert gc.isenabled()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"repeats": 2}, ValueError, "repeats must be a whole number >= 3"),
        ({"repeats": 3.5}, ValueError, "repeats"),
        ({"repeats": True}, ValueError, "repeats"),
        ({"warmup": -1}, ValueError, "warmup"),
        ({"number": 0}, ValueError, "number .* or None"),
        ({"timer": 1.0}, TypeError, "timer"),
    ],
)
def test_bad_arguments_say_what_to_do(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        measure(len, "abc", **kwargs)


def test_passing_a_result_instead_of_a_function_is_explained() -> None:
    with pytest.raises(TypeError, match=r"not the result of calling it"):
        measure(sorted([3, 1, 2]))  # type: ignore[arg-type]


def test_async_functions_are_refused_with_a_hint() -> None:
    async def fetch() -> None:
        pass

    with pytest.raises(TypeError, match="asyncio.run"):
        measure(fetch)


def test_default_names_show_the_function_and_argument_types() -> None:
    assert measure(sorted, [1], repeats=3, number=1).name == "sorted(list)"
    assert measure(json.dumps, {}, repeats=3, number=1, indent=2).name == "json.dumps(dict, indent=int)"
    assert measure(sorted, [1], repeats=3, number=1, name="mine").name == "mine"


# ---------------------------------------------------------------- Measurement


def test_measurement_string_reads_as_a_result() -> None:
    clock = FakeClock()
    m = measure(clock.work(STEP), repeats=5, number=7, timer=clock)
    expected = "work(): median 3.91 ms (95% CI 3.91–3.91 ms), min 3.91 ms, 5 samples × 7 calls"
    assert str(m) == repr(m) == expected
    assert str(Measurement("one", [1e-6] * 3, number=1)).endswith("3 samples × 1 call")


def test_measurement_summary_statistics() -> None:
    m = Measurement("m", [4.0, 1.0, 2.0, 3.0, 100.0], number=2)
    assert (m.median, m.min, m.mean, m.repeats) == (3.0, 1.0, 22.0, 5)
    assert list(m.percentiles) == ["p50", "p95", "p99", "p99.9"]
    assert m.percentiles["p50"] == 3.0
    low, high = m.ci
    assert low <= m.median <= high
    assert Measurement("again", m.samples, number=2).ci == m.ci  # fixed seed


def test_measurement_is_immutable() -> None:
    m = Measurement("m", [1.0, 2.0, 3.0])
    with pytest.raises(AttributeError):
        m.name = "other"  # type: ignore[misc]
    with pytest.raises(ValueError):
        m.samples[0] = 5.0


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [[1.0, 2.0]]])
def test_measurement_rejects_bad_samples(bad: list) -> None:
    with pytest.raises(ValueError, match="samples"):
        Measurement("m", bad)


def test_measurement_to_dict_round_trips_through_json() -> None:
    m = measure(sorted, [3, 1, 2], repeats=4, warmup=0, number=3)
    data = json.loads(json.dumps(m.to_dict()))
    assert data["samples"] == m.samples.tolist()
    assert (data["name"], data["number"], data["repeats"]) == (m.name, 3, 4)
    assert (data["median"], data["min"], data["mean"]) == (m.median, m.min, m.mean)
    assert tuple(data["ci"]) == m.ci
    assert data["percentiles"] == m.percentiles
    again = Measurement.from_dict(data)
    assert again.to_dict() == m.to_dict()


def test_measurement_html_is_a_table_with_an_escaped_name() -> None:
    m = Measurement("<lambda>()", [1e-3, 2e-3, 3e-3], number=4)
    table = m._repr_html_()
    assert table.startswith("<table>") and table.endswith("</table>")
    assert "&lt;lambda&gt;()" in table and "<lambda>" not in table
    for piece in ("median", "2.00 ms", "95% CI", "p99", "3 × 4"):
        assert piece in table


def test_measurement_plot_is_labelled_and_does_not_show(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plot() must not call plt.show()"))
    m = Measurement("f", [1e-3, 1.1e-3, 1.2e-3, 5e-3])
    ax = m.plot()
    assert isinstance(ax, Axes)
    assert "ms" in ax.get_ylabel() and ax.get_xlabel()
    assert "f" in ax.get_title() and "1.15 ms" in ax.get_title()
    _, given = plt.subplots()
    assert m.plot(ax=given) is given


# ---------------------------------------------------------------- compare


def test_compare_interleaves_warmup_and_samples() -> None:
    order: list[str] = []
    compare(lambda: order.append("A"), lambda: order.append("B"), repeats=3, warmup=2, number=2)
    assert order == ["A", "B"] * 2 + ["A", "A", "B", "B"] * 3


def test_compare_passes_arguments_to_both() -> None:
    seen: list[tuple] = []
    compare(lambda *a, **k: seen.append((a, k)), lambda *a, **k: seen.append((a, k)), 1, repeats=3, number=1, x=2)
    assert seen and all(s == ((1,), {"x": 2}) for s in seen)


def test_compare_uses_one_calibrated_number_for_both() -> None:
    clock = FakeClock()
    c = compare(clock.work(STEP / 16), clock.work(STEP / 64), repeats=3, warmup=0, timer=clock)
    assert c.baseline.number == c.candidate.number
    assert c.candidate.number * STEP / 64 >= harness.TARGET_SAMPLE_SECONDS  # the faster one's samples are long enough
    assert (c.ratio, c.ratio_ci) == (4.0, (4.0, 4.0))


def test_compare_keeps_the_slow_function_affordable() -> None:
    clock = FakeClock()
    c = compare(clock.work(1e-3), clock.work(1e-6), repeats=3, warmup=0, timer=clock)
    assert c.baseline.number * 1e-3 <= 10 * harness.TARGET_SAMPLE_SECONDS


def test_compare_sees_ten_times_more_work_as_a_clear_speedup() -> None:
    data = list(range(20_000))
    # On the thread's CPU clock: wall-clock samples lose their ratio when a burst of other work lands
    # on one side (seen: 1.15 in a bursty-load CI run); CPU time is what the work itself costs.
    c = compare(lambda: sum(data), lambda: sum(data[:2_000]), repeats=9, warmup=1, number=10, timer=time.thread_time)
    assert c.ratio > 2  # about 10 in truth
    assert c.ratio_ci[0] > 2


def test_compare_rejects_bad_input() -> None:
    with pytest.raises(TypeError, match="compare"):
        compare(len, "abc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="names must be a pair"):
        compare(len, len, "abc", names=("only one",))
    with pytest.raises(ValueError, match="names must be a pair"):
        compare(len, len, "abc", names="ab")


def test_comparison_names() -> None:
    c = compare(sorted, list, [1], repeats=3, number=1)
    assert (c.baseline.name, c.candidate.name) == ("sorted(list)", "list(list)")
    same = compare(lambda: 1, lambda: 2, repeats=3, number=1)
    assert (same.baseline.name, same.candidate.name) == ("baseline", "candidate")
    named = compare(len, len, "x", repeats=3, number=1, names=["old", "new"])
    assert (named.baseline.name, named.candidate.name) == ("old", "new")


def fixed(base: float, cand: float) -> Comparison:
    return Comparison(Measurement("json", [base] * 5, number=10), Measurement("orjson", [cand] * 5, number=10))


def test_comparison_string_faster_slower_and_unclear() -> None:
    assert str(fixed(4e-3, 1e-3)) == (
        "orjson is 4.00× faster than json (95% CI 4.00–4.00×), medians 4.00 ms vs 1.00 ms"
    )
    slower = fixed(1e-3, 1.25e-3)
    assert slower.ratio == pytest.approx(0.8)
    assert str(slower).startswith("orjson is 1.25× slower than json (95% CI 1.25–1.25×)")
    noisy = Comparison(Measurement("a", [1.0, 2.0, 3.0]), Measurement("b", [1.5, 2.0, 2.5]))
    assert str(noisy).startswith("no clear difference between b and a")
    assert "includes 1" in str(noisy) and repr(noisy) == str(noisy)


def test_comparison_html() -> None:
    table = fixed(4e-3, 1e-3)._repr_html_()
    for piece in ("<table>", "orjson is 4.00× faster than json", "4.00 ms", "1.00 ms", "speed-up", "5 × 10"):
        assert piece in table


def test_comparison_to_dict_round_trips_through_json() -> None:
    c = fixed(3e-3, 1e-3)
    data = json.loads(json.dumps(c.to_dict()))
    assert data["ratio"] == c.ratio and tuple(data["ratio_ci"]) == c.ratio_ci
    assert data["baseline"] == c.baseline.to_dict()
    assert Comparison.from_dict(data).to_dict() == c.to_dict()


@pytest.mark.parametrize(("cand", "scale"), [(1e-3, "log"), (3e-3, "linear")])
def test_comparison_plot(cand: float, scale: str) -> None:
    c = Comparison(Measurement("slow", [20e-3, 21e-3, 22e-3]), Measurement("fast", [cand, cand * 1.1, cand * 0.9]))
    ax = c.plot()
    assert isinstance(ax, Axes)
    assert ax.get_yscale() == scale
    assert "ms" in ax.get_ylabel() and ax.get_xlabel()
    assert "faster than slow" in ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["slow", "fast"]


# ---------------------------------------------------------------- format_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 ns"),
        (1.5e-9, "1.50 ns"),
        (2.5e-7, "250 ns"),
        (9.996e-7, "1.00 µs"),
        (1.234e-5, "12.3 µs"),
        (0.00123, "1.23 ms"),
        (0.0456, "45.6 ms"),
        (1, "1.00 s"),
        (42, "42.0 s"),
        (1234, "1230 s"),
        (-0.002, "-2.00 ms"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
