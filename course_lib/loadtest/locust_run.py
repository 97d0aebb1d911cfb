"""Run Locust headless in a subprocess with a hard timeout, and read its CSV into pandas.

:func:`run_locust` starts ``python -m locust`` as the master of ``processes`` worker processes
on this machine (``--processes``), against a server on 127.0.0.1 only. The master and its
workers run in their own process group; when the run ends, times out or the caller is
interrupted, the whole group is stopped, so nothing is left running. Locust's statistics
(``--csv``) come back as :class:`LocustRun`.

Nothing here imports Locust: it runs in the subprocess, where gevent may patch what it likes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from course_lib.loadtest.generator import check_local_url

__all__ = ["LocustRun", "run_locust", "CPU_WARNING"]

#: What Locust logs when a process's CPU is nearly saturated (its numbers then describe itself).
CPU_WARNING = "CPU usage"


@dataclass(frozen=True)
class LocustRun:
    """What one headless Locust run left behind."""

    command: list[str]
    returncode: int
    seconds: float  # wall time of the whole run, start-up included
    stats: pd.DataFrame  # <prefix>_stats.csv: one row per request name, and "Aggregated"
    log: str  # Locust's log (stderr)

    @property
    def total(self) -> pd.Series:
        """The "Aggregated" row: ``Request Count``, ``Requests/s``, ``50%``, ``99%`` (ms), ..."""
        return self.stats.set_index("Name").loc["Aggregated"]

    @property
    def cpu_warning(self) -> bool:
        """Did Locust warn that one of its processes was short of CPU?"""
        return CPU_WARNING in self.log

    def __str__(self) -> str:
        t = self.total
        return (
            f"Locust: {int(t['Request Count'])} requests ({int(t['Failure Count'])} failed), "
            f"{t['Requests/s']:.0f}/s, p50 {t['50%']:.0f} ms, p99 {t['99%']:.0f} ms"
            + ("; Locust warned that it was short of CPU" if self.cpu_warning else "")
        )

    __repr__ = __str__


def _stop_group(process: subprocess.Popen, grace: float = 5.0) -> None:
    """Stop the process group that ``process`` leads: SIGTERM, then SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break  # the whole group is gone
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            continue
        try:  # the master is gone; are its workers?
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)


def run_locust(
    locustfile: str | Path,
    host: str,
    *,
    users: int,
    run_time: int,
    folder: str | Path,
    spawn_rate: float | None = None,
    processes: int = 1,
    timeout: float = 60.0,
    extra_args: tuple[str, ...] = (),
) -> LocustRun:
    """Run ``locustfile`` headless against ``host`` for ``run_time`` seconds with ``users`` users.

    ``run_time`` is a whole number of seconds (Locust's ``--run-time`` takes no fractions).
    ``processes`` worker processes are forked by one master (``--processes``). CSV files and
    the log go to ``folder``. The run is killed (master and workers) if it takes longer than
    ``timeout`` seconds, and a ``TimeoutError`` says so.
    """
    check_local_url(host)
    if isinstance(run_time, bool) or not isinstance(run_time, int) or run_time < 1:
        raise ValueError(
            f"run_time must be a whole number of seconds >= 1 (Locust takes no fractions), got {run_time!r}"
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    prefix = folder / f"locust_{processes}p_{users}u"
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locustfile),
        "--headless",
        "--host",
        host,
        "--users",
        str(users),
        "--spawn-rate",
        str(spawn_rate or users),
        "--run-time",
        f"{run_time}s",
        "--processes",
        str(processes),
        "--csv",
        str(prefix),
        "--only-summary",
        *extra_args,
    ]
    log_path = prefix.with_suffix(".log")
    started = time.perf_counter()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        try:
            returncode = process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"Locust did not finish within {timeout} s and was stopped: {' '.join(command)}"
            ) from None
        finally:
            _stop_group(process)  # also on success: no worker may outlive its master
    seconds = time.perf_counter() - started
    text = log_path.read_text(errors="replace")
    stats_path = Path(f"{prefix}_stats.csv")
    if not stats_path.exists():
        raise RuntimeError(f"Locust wrote no statistics (exit code {returncode}); its log ends:\n{text[-2000:]}")
    return LocustRun(command, returncode, seconds, pd.read_csv(stats_path), text)
