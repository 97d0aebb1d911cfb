"""Time a function properly: warm-up, repeats, a median and its confidence interval.

One timing is not a result. :func:`measure` calls a function many times and keeps every
sample; :func:`compare` measures two functions in the same run, interleaved, and reports
the speed-up with a bootstrap interval.

>>> m = measure(sorted, [3, 1, 2], repeats=5, number=10)
>>> m.repeats, m.number, len(m.samples)
(5, 10, 5)
>>> m.name
'sorted(list)'
>>> format_duration(0.00123)
'1.23 ms'
"""

from __future__ import annotations

import functools
import gc
import inspect
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from course_lib.measuring.results import Comparison, Measurement, _check_int, format_duration

if TYPE_CHECKING:
    pass

__all__ = ["Comparison", "Measurement", "compare", "format_duration", "measure"]

#: With ``number=None`` each sample is made long enough to take at least this long (seconds).
TARGET_SAMPLE_SECONDS = 0.002
#: Upper bound for the calibrated ``number`` (a guard against a timer that does not advance).
MAX_NUMBER = 1_000_000

# ---------------------------------------------------------------- measuring

Timer = Callable[[], float]


def measure(
    fn: Callable[..., object],
    *args: Any,
    repeats: int = 30,
    warmup: int = 3,
    number: int | None = None,
    name: str | None = None,
    timer: Timer = time.perf_counter,
    disable_gc: bool = True,
    **kwargs: Any,
) -> Measurement:
    """Time ``fn(*args, **kwargs)``: ``warmup`` untimed calls, then ``repeats`` samples.

    Each sample times ``number`` back-to-back calls and stores the seconds per call. With
    ``number=None`` it is calibrated like ``timeit``'s autorange: the first of 1, 2, 5, 10,
    20, 50, ... for which one sample takes at least ``TARGET_SAMPLE_SECONDS`` (those
    calibration calls are extra, untimed calls). ``timer`` is any clock returning seconds.

    Like ``timeit``, the garbage collector is off during each sample (``disable_gc=True``),
    so a collection caused by earlier code does not land in one sample at random. If the
    cost you care about includes collecting the garbage ``fn`` makes, pass
    ``disable_gc=False`` (and more repeats: collections then make some samples slow).

    The keywords above are measure's own; to pass e.g. ``name=`` to ``fn``, wrap it:
    ``measure(lambda: fn(name="x"))``.

    >>> m = measure(sum, range(100), repeats=3, warmup=0, number=1)
    >>> len(m.samples), m.name
    (3, 'sum(range)')
    """
    _check_callable("measure", fn)
    call = _bind(fn, args, kwargs)
    name = _default_name(fn, args, kwargs) if name is None else name
    number, (samples,) = _run([call], repeats, warmup, number, timer, disable_gc)
    return Measurement(name, samples, number=number)


def compare(
    baseline: Callable[..., object],
    candidate: Callable[..., object],
    *args: Any,
    repeats: int = 30,
    warmup: int = 3,
    number: int | None = None,
    names: Sequence[str] | None = None,
    timer: Timer = time.perf_counter,
    disable_gc: bool = True,
    **kwargs: Any,
) -> Comparison:
    """Measure ``baseline(*args, **kwargs)`` and ``candidate(*args, **kwargs)`` in one run.

    Warm-up calls and samples alternate (baseline, candidate, baseline, candidate, ...), so
    machine noise in one stretch of time hits both alike, and both use the same ``number``.
    With ``number=None`` it is calibrated so the faster function's samples take at least
    ``TARGET_SAMPLE_SECONDS`` unless that would make the slower one's take over about
    ten times as long. Other keywords: see :func:`measure`.

    >>> c = compare(sorted, list, [3, 1, 2], repeats=3, warmup=0, number=5)
    >>> c.baseline.name, c.candidate.name, c.candidate.number
    ('sorted(list)', 'list(list)', 5)
    """
    _check_callable("compare", baseline)
    _check_callable("compare", candidate)
    if names is None:
        names = (_default_name(baseline, args, kwargs), _default_name(candidate, args, kwargs))
        if names[0] == names[1]:
            names = ("baseline", "candidate")
    elif isinstance(names, str) or len(names) != 2:
        raise ValueError(f"names must be a pair (baseline name, candidate name), got {names!r}")
    calls = [_bind(f, args, kwargs) for f in (baseline, candidate)]
    number, (base, cand) = _run(calls, repeats, warmup, number, timer, disable_gc)
    return Comparison(Measurement(names[0], base, number=number), Measurement(names[1], cand, number=number))


def _run(
    calls: list[Callable[[], object]], repeats: int, warmup: int, number: int | None, timer: Timer, disable_gc: bool
) -> tuple[int, list[np.ndarray]]:
    """Warm up, calibrate, then take ``repeats`` interleaved samples of every call."""
    repeats = _check_int("repeats", repeats, 3, "so the median gets a confidence interval (30 is a good default)")
    warmup = _check_int("warmup", warmup, 0)
    if number is not None:
        number = _check_int("number", number, 1, "or None to calibrate it")
    if not callable(timer):
        raise TypeError(f"timer must be a clock function such as time.perf_counter, got {timer!r}")
    for _ in range(warmup):
        for call in calls:
            call()
    if number is None:
        number = _calibrate(calls, timer, disable_gc)
    samples = np.empty((len(calls), repeats))
    for i in range(repeats):
        for j, call in enumerate(calls):
            samples[j, i] = _sample(call, number, timer, disable_gc)
    return number, list(samples)


def _bind(fn: Callable[..., object], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Callable[[], object]:
    return functools.partial(fn, *args, **kwargs) if args or kwargs else fn


def _sample(call: Callable[[], object], number: int, timer: Timer, disable_gc: bool) -> float:
    """Seconds per call of ``number`` back-to-back calls; nothing but the calls is timed."""
    loop = itertools.repeat(None, number)
    gc_was_enabled = gc.isenabled()
    if disable_gc:
        gc.disable()
    try:
        start = timer()
        for _ in loop:
            call()
        stop = timer()
    finally:
        if gc_was_enabled:
            gc.enable()
    return (stop - start) / number


def _one_two_five() -> Iterator[int]:
    for exponent in itertools.count():
        for mantissa in (1, 2, 5):
            yield mantissa * 10**exponent


def _calibrate(calls: list[Callable[[], object]], timer: Timer, disable_gc: bool) -> int:
    for number in _one_two_five():
        totals = [_sample(call, number, timer, disable_gc) * number for call in calls]
        done = min(totals) >= TARGET_SAMPLE_SECONDS or max(totals) >= 4 * TARGET_SAMPLE_SECONDS
        if done or number >= MAX_NUMBER:
            return number
    raise AssertionError("unreachable")  # pragma: no cover


# ---------------------------------------------------------------- checks and names


def _check_callable(caller: str, fn: object) -> None:
    if not callable(fn):
        raise TypeError(
            f"{caller}() needs a function to call, got {fn!r}. Pass the function and its arguments, "
            f"e.g. {caller}(sorted, data), not the result of calling it, {caller}(sorted(data))."
        )
    if inspect.iscoroutinefunction(fn):
        raise TypeError(
            f"{caller}() times plain calls, but {fn!r} is async: calling it only creates a coroutine. "
            "Time a synchronous wrapper instead, e.g. lambda: asyncio.run(fn()) (this includes the event loop's cost)."
        )


def _default_name(fn: Callable[..., object], args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """``json.dumps(dict)``: the function and the types of its arguments."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    label = getattr(fn, "__qualname__", None) or type(fn).__name__
    module = getattr(fn, "__module__", None)
    if module and module not in ("builtins", "__main__"):
        label = f"{module}.{label}"
    arg_types = [type(a).__name__ for a in args] + [f"{k}={type(v).__name__}" for k, v in kwargs.items()]
    return f"{label}({', '.join(arg_types)})"
