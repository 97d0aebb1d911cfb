"""What a profiler costs: the same workload with and without it, interleaved, as a slow-down."""

from __future__ import annotations

import cProfile
import time
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from course_lib.measuring.harness import compare

__all__ = ["overhead_table", "with_cprofile", "with_line_profiler", "with_pyinstrument"]


def with_cprofile(workload: Callable[[], Any]) -> Callable[[], Any]:
    """``workload`` run under a fresh ``cProfile.Profile`` on every call."""

    def run() -> Any:
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            return workload()
        finally:
            profiler.disable()

    return run


def with_line_profiler(workload: Callable[[], Any], *functions: Callable[..., Any]) -> Callable[[], Any]:
    """``workload`` run with line_profiler timing every line of ``functions``."""
    from line_profiler import LineProfiler

    profiler = LineProfiler()
    for function in functions:
        profiler.add_function(function)

    def run() -> Any:
        profiler.enable_by_count()
        try:
            return workload()
        finally:
            profiler.disable_by_count()

    return run


def with_pyinstrument(workload: Callable[[], Any], interval: float = 0.001) -> Callable[[], Any]:
    """``workload`` run under a fresh pyinstrument ``Profiler`` sampling every ``interval`` seconds."""
    from pyinstrument import Profiler

    def run() -> Any:
        with Profiler(interval=interval):
            return workload()

    return run


def overhead_table(
    workload: Callable[[], Any],
    runners: Mapping[str, Callable[[], Any]],
    *,
    repeats: int = 10,
    warmup: int = 1,
    timer: Callable[[], float] = time.perf_counter,
) -> pd.DataFrame:
    """What each runner (the workload under a profiler) costs compared with the bare workload.

    Each runner is measured against the bare ``workload`` with :func:`course_lib.measuring.harness.compare`
    (interleaved, same run, with ``timer`` as the clock). Returns one row per runner: the
    medians (ms), the slow-down ``median(runner) / median(bare)`` and its 95% bootstrap
    interval, and ``min_slowdown``, the same ratio of the fastest samples, which a busy
    machine disturbs least.

    A profiler's cost is CPU work in the thread it watches, so ``timer=time.thread_time``
    measures it without counting the time other processes take; keep the default wall
    clock when the workload waits (for a database, say) or runs work in other threads.
    """
    rows = {}
    for name, run in runners.items():
        comparison = compare(workload, run, repeats=repeats, warmup=warmup, timer=timer, names=("no profiler", name))
        low, high = comparison.ratio_ci
        rows[name] = {
            "bare_ms": comparison.baseline.median * 1e3,
            "profiled_ms": comparison.candidate.median * 1e3,
            "slowdown": 1 / comparison.ratio,
            "slowdown_low": 1 / high,
            "slowdown_high": 1 / low,
            "min_slowdown": comparison.candidate.min / comparison.baseline.min,
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("profiler")
