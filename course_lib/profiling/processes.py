"""Other processes: busy neighbours on demand, and a Python process for py-spy to profile."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from course_lib.environment import environment_report

__all__ = ["noisy_neighbours", "usable_cores", "py_spy_path", "running_python"]


def usable_cores() -> int:
    """The CPUs this process may use: its affinity, lowered by a container's CPU quota."""
    return environment_report(check_backends=False).cores or 1


#: What each busy neighbour runs: say so, then spin until its parent is gone or 60 s have passed.
_SPIN = (
    "import os, time\nparent, end = os.getppid(), time.monotonic() + 60\nprint('ready', flush=True)\n"
    "while os.getppid() == parent and time.monotonic() < end:\n    pass\n"
)


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
        raise RuntimeError(
            f"the Python process printed {line.strip()!r} instead of {ready!r}; "
            f"its error output ends with: {err[-500:]}"
        )


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
