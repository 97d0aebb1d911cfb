"""Behaviour of course_lib.profiling. No test asserts an absolute time: durations come from a
fake clock, profiles are checked by call counts, and real timings only as ratios in one run."""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import sys
import threading
import time
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from course_lib import profiling
from course_lib.profiling import (
    TimingRecorder,
    call_edges,
    collapsed_to_frame,
    overhead_table,
    peak_memory,
    profile_call,
    py_spy_path,
    pyinstrument_to_frame,
    running_python,
    stats_to_frame,
    with_cprofile,
    with_line_profiler,
    with_pyinstrument,
)
from course_lib.profiling.slow_report import bestseller_report, find_book, make_bookstore


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------------------- TimingRecorder


def test_track_records_one_exact_sample_per_call_and_keeps_the_function() -> None:
    clock = FakeClock()
    rec = TimingRecorder(clock=clock)

    @rec.track
    def work(seconds: float) -> str:
        """Docstring kept."""
        clock.now += seconds
        return "done"

    assert [work(s) for s in (0.001, 0.002, 0.004)] == ["done"] * 3
    assert work.__name__ == "work" and work.__doc__ == "Docstring kept."
    name = work.__qualname__
    assert rec.names() == [name] and rec.calls(name) == 3
    np.testing.assert_allclose(rec.samples(name), [0.001, 0.002, 0.004])


def test_summary_percentiles_in_milliseconds() -> None:
    clock = FakeClock()
    rec = TimingRecorder(clock=clock)
    for ms in range(1, 101):  # 1 ms, 2 ms, ..., 100 ms
        with rec.section("step"):
            clock.now += ms / 1000
    row = rec.summary().loc["step"]
    assert row["calls"] == 100
    assert row["p50_ms"] == pytest.approx(50.5)
    assert row["p95_ms"] == pytest.approx(95.05)
    assert row["p99_ms"] == pytest.approx(99.01)
    assert row["max_ms"] == pytest.approx(100) and row["total_ms"] == pytest.approx(5050)
    assert row["mean_ms"] == pytest.approx(50.5)


def test_named_track_sections_and_exceptions_are_timed() -> None:
    clock = FakeClock()
    rec = TimingRecorder(clock=clock)

    @rec.track(name="db.query")
    def fails() -> None:
        clock.now += 0.25
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        fails()
    with pytest.raises(KeyError), rec.section("render"):
        clock.now += 0.5
        raise KeyError("x")
    assert rec.samples("db.query").tolist() == [0.25]
    assert rec.samples("render").tolist() == [0.5]


def test_async_functions_are_timed_across_awaits() -> None:
    clock = FakeClock()
    rec = TimingRecorder(clock=clock)

    @rec.track
    async def handler() -> int:
        clock.now += 0.1
        await asyncio.sleep(0)
        clock.now += 0.2
        return 42

    assert asyncio.run(handler()) == 42
    assert rec.samples(handler.__qualname__).tolist() == pytest.approx([0.3])


def test_max_samples_keeps_a_window_but_counts_every_call() -> None:
    clock = FakeClock()
    rec = TimingRecorder(clock=clock, max_samples=3)
    for seconds in (1.0, 2.0, 3.0, 4.0, 5.0):
        rec.record("x", seconds)
    assert rec.samples("x").tolist() == [3.0, 4.0, 5.0]
    assert rec.calls("x") == 5 and rec.summary().loc["x", "calls"] == 5
    with pytest.raises(ValueError, match="max_samples"):
        TimingRecorder(max_samples=0)


def test_unknown_name_and_reset() -> None:
    rec = TimingRecorder()
    rec.record("a", 0.1)
    with pytest.raises(KeyError, match="recorded: a"):
        rec.samples("b")
    assert rec.calls("b") == 0
    rec.reset()
    assert rec.names() == [] and rec.summary().empty


def test_recording_from_threads_loses_no_call() -> None:
    rec = TimingRecorder()
    tracked = rec.track(lambda: None, name="noop")
    threads = [threading.Thread(target=lambda: [tracked() for _ in range(2000)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert rec.calls("noop") == 8000 and len(rec.samples("noop")) == 8000


# --------------------------------------------------------------------------- profiles as tables


@pytest.fixture(scope="module")
def store():
    return make_bookstore(n_books=60, n_orders=200, seed=3)


def test_stats_to_frame_counts_calls_and_finds_the_hot_spot(store) -> None:
    result, stats = profile_call(bestseller_report, store, top=5)
    assert result == bestseller_report(store, top=5)
    table = stats_to_frame(stats)
    rows = table.set_index("function")
    # find_book runs once per order line and once per book sold: counts, not times
    sold = len({line["book_id"] for order in store.orders for line in order["lines"]})
    assert rows.loc["find_book", "ncalls"] == store.n_order_lines + sold
    assert rows.loc["sales_by_book", "ncalls"] == 1
    assert table["tottime"].is_monotonic_decreasing
    assert rows.loc["bestseller_report", "cumtime"] >= rows.loc["sales_by_book", "cumtime"]
    assert rows.loc["find_book", "location"].startswith("slow_report.py:")
    assert (table.loc[table["filename"] == "~", "location"] == "built-in").all()
    np.testing.assert_allclose(table["tottime_per_call"], table["tottime"] / table["ncalls"])


def test_the_scan_dominates_the_profile_of_a_larger_shop() -> None:
    # a ratio of times in one run, with a generous margin: find_book has most of the own time
    _, stats = profile_call(bestseller_report, make_bookstore(n_books=400, n_orders=1500, seed=0))
    table = stats_to_frame(stats)
    assert table.loc[0, "function"] == "find_book"
    assert table.loc[0, "tottime"] > 0.5 * table["tottime"].sum()


def test_stats_to_frame_accepts_a_profile_and_rejects_other_things(store) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(bestseller_report, store)
    assert "find_book" in set(stats_to_frame(profiler)["function"])
    assert "find_book" in set(stats_to_frame(pstats.Stats(profiler))["function"])
    with pytest.raises(TypeError, match="pstats.Stats"):
        stats_to_frame("profile.out")


def test_call_edges_split_calls_by_caller(store) -> None:
    _, stats = profile_call(bestseller_report, store)
    edges = call_edges(stats)
    to_find = edges[edges["callee"] == "find_book"].set_index("caller")["ncalls"].to_dict()
    sold = len({line["book_id"] for order in store.orders for line in order["lines"]})
    assert to_find == {"sales_by_book": store.n_order_lines, "bestseller_report": sold}
    assert edges["cumtime"].is_monotonic_decreasing


def test_collapsed_to_frame_self_and_total_samples() -> None:
    text = "\n".join(
        [
            "<module> (app.py:9);report (r.py:5);find (r.py:1) 30",
            "<module> (app.py:9);report (r.py:6);find (r.py:2) 10",
            "<module> (app.py:9);report (r.py:7) 8",
            "<module> (app.py:9);recurse (r.py:20);recurse (r.py:21) 2",
            "",
            "garbage line",
        ]
    )
    table = collapsed_to_frame(text)
    assert table.index[0] == "find"
    assert table.loc["find"].tolist()[:2] == [40, 40]
    assert table.loc["report"].tolist()[:2] == [8, 48]
    assert table.loc["recurse"].tolist()[:2] == [2, 2], "a function twice on one stack counts once"
    assert table.loc["<module>"].tolist()[:2] == [0, 50]
    assert table.loc["find", "self_share"] == pytest.approx(0.8)
    assert collapsed_to_frame("").empty


# --------------------------------------------------------------------------- memory


def test_peak_memory_sees_a_temporary_and_restores_tracemalloc() -> None:
    assert not tracemalloc.is_tracing()
    result, peak = peak_memory(lambda n: len(bytearray(n)), 5_000_000)
    assert result == 5_000_000
    assert 5_000_000 <= peak < 6_000_000
    assert not tracemalloc.is_tracing()
    _, small = peak_memory(sum, range(1000))
    assert small < 100_000


def test_peak_memory_leaves_running_tracemalloc_running() -> None:
    tracemalloc.start()
    try:
        _, peak = peak_memory(lambda: [0] * 100_000)
        assert peak >= 800_000 and tracemalloc.is_tracing()
    finally:
        tracemalloc.stop()


# --------------------------------------------------------------------------- overhead


def test_profiler_wrappers_return_the_result_and_line_profiler_sees_lines(store) -> None:
    expected = bestseller_report(store)
    workload = lambda: bestseller_report(store)  # noqa: E731
    assert with_cprofile(workload)() == expected
    assert with_pyinstrument(workload)() == expected
    run = with_line_profiler(workload, find_book)
    assert run() == expected
    assert sys.getprofile() is None and sys.gettrace() is None, "profilers are switched off after each run"


def test_overhead_table_ratio_in_one_run(store) -> None:
    workload = lambda: bestseller_report(store)  # noqa: E731
    table = overhead_table(
        workload,
        {"line_profiler": with_line_profiler(workload, find_book), "nothing": workload},
        repeats=9,
        timer=time.thread_time,
    )
    assert list(table.index) == ["line_profiler", "nothing"]
    assert set(table.columns) == {"bare_ms", "profiled_ms", "slowdown", "slowdown_low", "slowdown_high", "min_slowdown"}
    assert (table["slowdown_low"] <= table["slowdown"]).all() and (table["slowdown"] <= table["slowdown_high"]).all()
    # timing every line of the hot loop is costly (about ten times here): a ratio measured interleaved, in
    # CPU time, which the time other processes take does not enter
    assert table.loc["line_profiler", "slowdown"] > 1.5 and table.loc["line_profiler", "min_slowdown"] > 1.5


def test_overhead_table_reads_the_clock_it_is_given() -> None:
    class Ticks:  # a clock that advances one second per reading, whatever runs between readings
        def __init__(self) -> None:
            self.now = 0.0

        def __call__(self) -> float:
            self.now += 1.0
            return self.now

    calls = []
    table = overhead_table(
        lambda: calls.append("bare"), {"wrapped": lambda: calls.append("wrapped")}, repeats=3, warmup=0, timer=Ticks()
    )
    # every sample reads the clock twice, so both sides take exactly one tick per sample: a ratio of 1
    assert table.loc["wrapped", ["slowdown", "min_slowdown", "slowdown_low", "slowdown_high"]].tolist() == [1.0] * 4
    assert calls.count("bare") == calls.count("wrapped") >= 3


# --------------------------------------------------------------------------- py-spy plumbing


def test_running_python_waits_for_ready_and_always_ends_the_process() -> None:
    with running_python("print('ready', flush=True)\nimport time\ntime.sleep(60)") as process:
        assert process.poll() is None
    assert process.poll() is not None
    with pytest.raises(RuntimeError), running_python("print('ready', flush=True)\nimport time\ntime.sleep(60)") as p2:
        raise RuntimeError("the block fails")
    assert p2.poll() is not None


def test_running_python_explains_a_process_that_fails_to_start() -> None:
    with pytest.raises(RuntimeError, match="ZeroDivisionError"), running_python("1 / 0"):
        pass


def test_py_spy_path_is_a_string_or_none() -> None:
    path = py_spy_path()
    assert path is None or isinstance(path, str)


def test_summary_is_a_dataframe_even_when_empty() -> None:
    assert isinstance(TimingRecorder().summary(), pd.DataFrame)


def test_noisy_neighbours_start_and_always_end_their_processes() -> None:
    import psutil

    me = psutil.Process()
    before = {p.pid for p in me.children()}
    with pytest.raises(RuntimeError), profiling.noisy_neighbours(2) as n:
        assert n == 2
        spinning = {p.pid for p in me.children()} - before
        assert len(spinning) == 2
        raise RuntimeError("the block fails")
    assert not ({p.pid for p in me.children() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE} & spinning)
    assert profiling.usable_cores() >= 1


def test_pyinstrument_to_frame_finds_the_hot_spot() -> None:
    from pyinstrument import Profiler

    store = make_bookstore(n_books=300, n_orders=1000, seed=2)
    with Profiler(interval=0.0005) as sampler:
        bestseller_report(store)
    table = pyinstrument_to_frame(sampler.last_session)
    assert "find_book" in table.index
    assert table["self_share"].sum() == pytest.approx(1.0)
    assert table["self"].is_monotonic_decreasing
