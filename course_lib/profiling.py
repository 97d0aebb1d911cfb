"""Profiling helpers for module 02: profiles as tables, per-function percentiles, overhead.

- :class:`TimingRecorder` times every call of the functions you decorate (``@rec.track``)
  and every block you wrap (``with rec.section("name"):``) and summarises each as
  p50/p95/p99. It is an object you create and pass around, not a global.
- :func:`stats_to_frame` and :func:`call_edges` turn ``cProfile``/``pstats`` results into
  pandas tables you can sort and filter; :func:`collapsed_to_frame` does the same for the
  collapsed stacks that ``py-spy record --format raw`` writes, and
  :func:`pyinstrument_to_frame` for a pyinstrument session.
- :func:`peak_memory` measures the peak memory a call allocates (``tracemalloc``).
- :func:`overhead_table` measures what a profiler costs: the same workload with and
  without it, interleaved, as a slow-down with a bootstrap interval. The ``with_*``
  functions wrap a workload in cProfile, line_profiler or pyinstrument for it.
- :func:`noisy_neighbours` keeps the CPU busy for a while (a shared machine on demand);
  :func:`running_python` and :func:`py_spy_path` let a notebook profile another process.

>>> rec = TimingRecorder()
>>> @rec.track
... def double(x):
...     return 2 * x
>>> [double(i) for i in range(3)]
[0, 2, 4]
>>> with rec.section("loop"):
...     total = sum(range(1000))
>>> rec.calls("double"), rec.calls("loop")
(3, 1)
>>> list(rec.summary().columns)
['calls', 'total_ms', 'mean_ms', 'p50_ms', 'p95_ms', 'p99_ms', 'max_ms']
"""

from __future__ import annotations

import cProfile
import functools
import inspect
import os
import pstats
import queue
import shutil
import subprocess
import sys
import threading
import time
import tracemalloc
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from course_lib.environment import environment_report
from course_lib.harness import compare
from course_lib.stats import percentiles

__all__ = [
    "TimingRecorder",
    "profile_call",
    "stats_to_frame",
    "call_edges",
    "collapsed_to_frame",
    "pyinstrument_to_frame",
    "peak_memory",
    "overhead_table",
    "with_cprofile",
    "with_line_profiler",
    "with_pyinstrument",
    "noisy_neighbours",
    "usable_cores",
    "py_spy_path",
    "running_python",
]

F = TypeVar("F", bound=Callable[..., Any])


# --------------------------------------------------------------------------- a timing decorator


class TimingRecorder:
    """Keeps the duration of every call of tracked functions and sections, by name.

    ``clock`` is any function returning seconds (``time.perf_counter`` by default; tests
    pass a fake one). With ``max_samples`` only the most recent samples of each name are
    kept (a sliding window), so a long-running process does not grow without bound; the
    call count still counts every call. Recording is safe from several threads (a lock
    guards it).
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter, max_samples: int | None = None) -> None:
        if max_samples is not None and max_samples < 1:
            raise ValueError(f"max_samples must be at least 1 (or None for no limit), got {max_samples!r}")
        self._clock = clock
        self._max = max_samples
        self._samples: dict[str, deque[float]] = {}
        self._calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def record(self, name: str, seconds: float) -> None:
        """Add one duration (seconds) under ``name``."""
        with self._lock:
            self._samples.setdefault(name, deque(maxlen=self._max)).append(seconds)
            self._calls[name] = self._calls.get(name, 0) + 1

    def track(self, fn: F | None = None, *, name: str | None = None) -> Any:
        """Decorator: time every call of ``fn`` (sync or async) under ``name`` (default: its qualified name).

        Use as ``@rec.track`` or ``@rec.track(name="db.query")``. A call that raises is
        timed too; the exception propagates unchanged.
        """

        def decorate(f: F) -> F:
            label = name or getattr(f, "__qualname__", repr(f))
            if inspect.iscoroutinefunction(f):

                @functools.wraps(f)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    start = self._clock()
                    try:
                        return await f(*args, **kwargs)
                    finally:
                        self.record(label, self._clock() - start)

                return async_wrapper  # type: ignore[return-value]

            @functools.wraps(f)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                start = self._clock()
                try:
                    return f(*args, **kwargs)
                finally:
                    self.record(label, self._clock() - start)

            return wrapper  # type: ignore[return-value]

        return decorate if fn is None else decorate(fn)

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        """Context manager: time the ``with`` block under ``name``."""
        start = self._clock()
        try:
            yield
        finally:
            self.record(name, self._clock() - start)

    def names(self) -> list[str]:
        """The names recorded so far, in the order first seen."""
        return list(self._samples)

    def calls(self, name: str) -> int:
        """How many calls of ``name`` were recorded (0 if none)."""
        return self._calls.get(name, 0)

    def samples(self, name: str) -> np.ndarray:
        """The kept durations of ``name`` in seconds, oldest first."""
        if name not in self._samples:
            known = ", ".join(self._samples) or "nothing yet"
            raise KeyError(f"no timings recorded under {name!r}; recorded: {known}")
        return np.array(self._samples[name], dtype=float)

    def summary(self) -> pd.DataFrame:
        """One row per name: calls, total and mean, p50/p95/p99 and max, in milliseconds.

        The percentiles are computed from the kept samples (all of them unless
        ``max_samples`` was given); ``calls`` counts every call.
        """
        rows = {}
        with self._lock:
            snapshot = {name: list(kept) for name, kept in self._samples.items()}
        for name, kept in snapshot.items():
            ms = np.array(kept, dtype=float) * 1e3
            pct = percentiles(ms, (50, 95, 99))
            rows[name] = {"calls": self._calls[name], "total_ms": ms.sum(), "mean_ms": ms.mean(),
                          "p50_ms": pct["p50"], "p95_ms": pct["p95"], "p99_ms": pct["p99"], "max_ms": ms.max()}
        columns = ["calls", "total_ms", "mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms"]
        return pd.DataFrame.from_dict(rows, orient="index", columns=columns).rename_axis("name")

    def reset(self) -> None:
        """Forget every sample and count."""
        with self._lock:
            self._samples.clear()
            self._calls.clear()


# --------------------------------------------------------------------------- profiles as tables


def profile_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, pstats.Stats]:
    """Run ``fn(*args, **kwargs)`` under cProfile; return its result and the ``pstats.Stats``."""
    profiler = cProfile.Profile()
    try:
        result = profiler.runcall(fn, *args, **kwargs)
    finally:
        profiler.disable()
    return result, pstats.Stats(profiler)


def _as_stats(stats: pstats.Stats | cProfile.Profile) -> pstats.Stats:
    if isinstance(stats, cProfile.Profile):
        return pstats.Stats(stats)
    if isinstance(stats, pstats.Stats):
        return stats
    raise TypeError(f"expected a pstats.Stats or a cProfile.Profile, got {type(stats).__name__}")


def _where(filename: str, lineno: int) -> str:
    return "built-in" if filename == "~" else f"{Path(filename).name}:{lineno}"


def stats_to_frame(stats: pstats.Stats | cProfile.Profile) -> pd.DataFrame:
    """One row per function of a profile, sorted by own time (``tottime``), largest first.

    Columns: ``function`` (its name), ``location`` (``file.py:line``, or ``built-in``),
    ``ncalls`` (all calls), ``primitive_calls`` (calls not made recursively),
    ``tottime`` (seconds in the function itself), ``cumtime`` (seconds including what it
    called), ``tottime_per_call`` and ``cumtime_per_call``, and ``filename``.
    """
    raw = _as_stats(stats).stats  # {(file, line, name): (primitive, total, tottime, cumtime, callers)}
    rows = [{"function": name, "location": _where(filename, lineno), "ncalls": total, "primitive_calls": primitive,
             "tottime": tottime, "cumtime": cumtime, "filename": filename}
            for (filename, lineno, name), (primitive, total, tottime, cumtime, _) in raw.items()]
    frame = pd.DataFrame(rows, columns=["function", "location", "ncalls", "primitive_calls", "tottime", "cumtime",
                                        "filename"])
    frame.insert(5, "tottime_per_call", frame["tottime"] / frame["ncalls"].clip(lower=1))
    frame.insert(7, "cumtime_per_call", frame["cumtime"] / frame["primitive_calls"].clip(lower=1))
    return frame.sort_values("tottime", ascending=False, ignore_index=True)


def call_edges(stats: pstats.Stats | cProfile.Profile) -> pd.DataFrame:
    """The call graph: one row per (caller, callee) pair, with the calls and time along that edge.

    Columns: ``caller``, ``callee``, ``ncalls``, ``tottime`` and ``cumtime`` (seconds spent
    in the callee when called from this caller). Sorted by ``cumtime``, largest first.
    """
    raw = _as_stats(stats).stats
    rows = []
    for (_, _, callee), (*_, callers) in raw.items():
        for (_, _, caller), edge in callers.items():
            _, total, tottime, cumtime = edge
            rows.append({"caller": caller, "callee": callee, "ncalls": total, "tottime": tottime, "cumtime": cumtime})
    frame = pd.DataFrame(rows, columns=["caller", "callee", "ncalls", "tottime", "cumtime"])
    return frame.sort_values("cumtime", ascending=False, ignore_index=True)


def collapsed_to_frame(text: str) -> pd.DataFrame:
    """Samples per function from collapsed stacks (``py-spy record --format raw``, flamegraph input).

    Each input line is ``outer;...;inner count``, each frame ``name (file:line)``. Returns one
    row per function name: ``self`` (samples where it was running: the innermost frame),
    ``total`` (samples where it was anywhere on the stack) and both as shares of all
    samples. Sorted by ``self``, largest first.
    """
    own: dict[str, int] = {}
    anywhere: dict[str, int] = {}
    n_samples = 0
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        n_samples += n
        names = [frame.split(" (", 1)[0] for frame in stack.split(";")]
        own[names[-1]] = own.get(names[-1], 0) + n
        for name in set(names):
            anywhere[name] = anywhere.get(name, 0) + n
    frame = pd.DataFrame({"self": pd.Series(own, dtype=int), "total": pd.Series(anywhere, dtype=int)}).fillna(0)
    frame = frame.astype(int).rename_axis("function")
    frame["self_share"] = frame["self"] / max(n_samples, 1)
    frame["total_share"] = frame["total"] / max(n_samples, 1)
    return frame.sort_values(["self", "total"], ascending=False)


def pyinstrument_to_frame(session: Any) -> pd.DataFrame:
    """Own (self) time per function of a pyinstrument session (``profiler.last_session``).

    Returns one row per function name: ``self`` (seconds in which the samples found it
    running) and ``self_share`` (of all sampled time), sorted largest first.
    """
    own: dict[str, float] = {}
    stack = [session.root_frame()] if session.root_frame() is not None else []
    while stack:
        frame = stack.pop()
        stack.extend(frame.children)
        if not frame.is_synthetic:  # "[self]" and similar frames belong to their parent
            own[frame.function] = own.get(frame.function, 0.0) + frame.total_self_time
    table = pd.DataFrame({"self": pd.Series(own, dtype=float)}).rename_axis("function")
    table["self_share"] = table["self"] / max(table["self"].sum(), 1e-12)
    return table.sort_values("self", ascending=False)


# --------------------------------------------------------------------------- memory


def peak_memory(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, int]:
    """Call ``fn(*args, **kwargs)``; return its result and the peak bytes it allocated on top of
    what was allocated before the call (Python allocations, as ``tracemalloc`` sees them).

    Starts ``tracemalloc`` if it is not running and stops it again afterwards.
    """
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        result = fn(*args, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return result, max(0, peak - before)


# --------------------------------------------------------------------------- profiler overhead


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


def overhead_table(workload: Callable[[], Any], runners: Mapping[str, Callable[[], Any]], *,
                   repeats: int = 10, warmup: int = 1,
                   timer: Callable[[], float] = time.perf_counter) -> pd.DataFrame:
    """What each runner (the workload under a profiler) costs compared with the bare workload.

    Each runner is measured against the bare ``workload`` with :func:`course_lib.harness.compare`
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
        comparison = compare(workload, run, repeats=repeats, warmup=warmup, timer=timer,
                             names=("no profiler", name))
        low, high = comparison.ratio_ci
        rows[name] = {"bare_ms": comparison.baseline.median * 1e3, "profiled_ms": comparison.candidate.median * 1e3,
                      "slowdown": 1 / comparison.ratio, "slowdown_low": 1 / high, "slowdown_high": 1 / low,
                      "min_slowdown": comparison.candidate.min / comparison.baseline.min}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("profiler")


# --------------------------------------------------------------------------- noise and py-spy


def usable_cores() -> int:
    """The CPUs this process may use: its affinity, lowered by a container's CPU quota."""
    return environment_report(check_backends=False).cores or 1


#: What each busy neighbour runs: say so, then spin until its parent is gone or 60 s have passed.
_SPIN = ("import os, time\nparent, end = os.getppid(), time.monotonic() + 60\nprint('ready', flush=True)\n"
         "while os.getppid() == parent and time.monotonic() < end:\n    pass\n")


def _start_python(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_until_ready(process: subprocess.Popen, ready: str, timeout: float) -> None:
    """Wait for ``process`` to print the line ``ready``; RuntimeError if it prints something else or nothing."""
    first_line: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: first_line.put(process.stdout.readline()), daemon=True).start()
    try:
        line = first_line.get(timeout=timeout)
    except queue.Empty:
        raise RuntimeError(f"the Python process did not print {ready!r} within {timeout:g} s") from None
    if line.strip() != ready:
        process.kill()
        _, err = process.communicate()
        raise RuntimeError(f"the Python process printed {line.strip()!r} instead of {ready!r}; "
                           f"its error output ends with: {err[-500:]}")


def _end(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.kill()
    for process in processes:
        process.communicate()


def _spread_over_cpus(processes: list[subprocess.Popen]) -> None:
    """Pin the processes to this process's CPUs in turn (Linux), so that none of those CPUs stays free."""
    if not hasattr(os, "sched_setaffinity"):
        return  # elsewhere the operating system spreads them as it likes
    cpus = sorted(os.sched_getaffinity(0))
    for i, process in enumerate(processes):
        try:
            os.sched_setaffinity(process.pid, {cpus[i % len(cpus)]})
        except OSError:  # the process is already gone, or pinning is not allowed: no harm done
            pass


@contextmanager
def noisy_neighbours(n: int | None = None, *, timeout: float = 30) -> Iterator[int]:
    """Run ``n`` busy Python processes while the block runs (default: twice the usable cores).

    They imitate a shared machine (a laptop with a browser and a video call, a CI runner
    with other jobs): the code under test does not change, but it gets less of the CPU.
    On Linux they are spread over this process's CPUs, two or more per CPU by default, so
    whichever CPU runs your code is shared. The block starts once every process is
    spinning. The processes are always ended when
    the block ends; they also stop by themselves if this process dies, and after 60 s at
    most. Yields the number started.
    """
    n = 2 * usable_cores() if n is None else n
    processes: list[subprocess.Popen] = []
    try:
        processes.extend(_start_python(_SPIN) for _ in range(n))
        _spread_over_cpus(processes)
        for process in processes:
            _wait_until_ready(process, "ready", timeout)
        yield n
    finally:
        _end(processes)


def py_spy_path() -> str | None:
    """The ``py-spy`` executable next to this Python, or on ``PATH``; None if it is not installed."""
    beside = Path(sys.executable).with_name("py-spy.exe" if os.name == "nt" else "py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextmanager
def running_python(code: str, *, ready: str = "ready", timeout: float = 30) -> Iterator[subprocess.Popen]:
    """Run ``code`` in a new Python process until the block ends; the process is always ended.

    Waits until the process prints a line equal to ``ready`` (so the block starts when the
    code has finished its set-up), then yields the ``Popen``. Raises RuntimeError if the
    process exits first or the line does not come within ``timeout`` seconds.
    """
    process = _start_python(code)
    try:
        _wait_until_ready(process, ready, timeout)
        yield process
    finally:
        _end([process])
