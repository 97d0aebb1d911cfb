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

from course_lib.profiling.memory import peak_memory
from course_lib.profiling.overhead import overhead_table, with_cprofile, with_line_profiler, with_pyinstrument
from course_lib.profiling.processes import noisy_neighbours, py_spy_path, running_python, usable_cores
from course_lib.profiling.recorder import TimingRecorder
from course_lib.profiling.tables import (
    call_edges,
    collapsed_to_frame,
    profile_call,
    pyinstrument_to_frame,
    stats_to_frame,
)

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
