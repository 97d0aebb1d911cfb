"""Grading workers: long-lived processes that run nbval for one submission after another.

Starting a fresh Python with pytest, nbval and nbformat for each submission cost more than the
submission itself (imports alone took about a second); a worker pays it once. Each worker runs
``pytest --nbval-lax`` in its own process (trusted code: the grader's), against a kernel that
runs in the submission's sandbox and limits and was started while the previous submission ran
(:mod:`course_tools.grading.kernels`). The results stay in the worker's memory and come back
over a pipe: no file the kernel could reach holds them.

Hard deadlines the kernel cannot defeat: the worker kills the kernel (and everything it started)
when the submission's time is up; the parent kills the worker itself if it has not answered
shortly after that, and starts a new one for the next submission.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import queue
import resource
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from course_tools.grading.confine import remove_tree, sweep_stale_groups
from course_tools.grading.sandbox import Sandbox

RUN_PREFIX = "course-grade-"
STARTUP_TIMEOUT = 60  # seconds for a kernel to answer
GRACE = 30  # seconds the parent waits past the submission's limit before killing the worker
WORKER_MEMORY = 6 * 2**30  # address space of a worker process (the kernel has its own limits)
_WORKER_MAIN = "from course_tools.grading.worker import main; main()"


@dataclass(frozen=True)
class Job:
    notebook: str  # the assembled notebook (submission and tests), as JSON
    cell_timeout: int
    submission_timeout: int
    memory_mb: int
    processes: int
    file_mb: int
    box: Sandbox | None
    env: tuple[tuple[str, str], ...] = ()  # for the kernel: the probe prefix and the inputs' seed
    probe_prefix: str | None = None

    @property
    def kernel_kind(self) -> tuple:
        return (self.box, self.memory_mb, self.processes, self.file_mb, self.env)

    def kernel(self):
        from course_tools.grading.kernels import GradingKernel

        return GradingKernel(self.box, self.memory_mb, self.processes, self.file_mb, dict(self.env))


def _run(job: Job, kernel, out: io.StringIO) -> tuple[list[dict], str | None]:
    """Grade one job in this (worker) process with ``kernel`` (a started GradingKernel)."""
    import nbformat
    import pytest

    from course_tools.grading.nbval_guard import GradingSession

    nb = nbformat.reads(job.notebook, as_version=4)
    code_cells = sum(cell.cell_type == "code" for cell in nb.cells)
    with tempfile.TemporaryDirectory(prefix=f"{RUN_PREFIX}{os.getpid()}-") as tmp:
        path = Path(tmp) / "submission.ipynb"
        path.write_text(job.notebook)
        (Path(tmp) / "pytest.ini").write_text("[pytest]\n")
        stopped = threading.Event()

        def stop() -> None:
            stopped.set()
            kernel.kill()

        timer = threading.Timer(job.submission_timeout, stop)  # the submission's hard deadline
        timer.daemon = True

        def hand_over():
            running = kernel.connect(STARTUP_TIMEOUT)
            timer.start()
            return running

        session = GradingSession(path, hand_over, job.probe_prefix)
        args = [
            str(path),
            "-c",
            str(Path(tmp) / "pytest.ini"),
            "--rootdir",
            tmp,
            "-p",
            "nbval.plugin",
            "-p",
            "course_tools.grading.nbval_guard",
            "--nbval-lax",
            f"--nbval-cell-timeout={job.cell_timeout}",
            f"--nbval-kernel-startup-timeout={STARTUP_TIMEOUT}",
            "-p",
            "no:cacheprovider",
            "--color=no",
            "-q",
        ]
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                status = pytest.main(args, plugins=[session])
        finally:
            timer.cancel()
    problem = None
    if stopped.is_set():
        problem = f"stopped after {job.submission_timeout} s for the whole notebook"
    elif status not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        problem = f"nbval did not run (pytest exit {int(status)}): " + out.getvalue().strip()[-300:]
    elif not session.handed_over:
        problem = "results rejected: nbval did not run in the prepared kernel"
    elif session.collected != code_cells or len(session.results) != code_cells:
        problem = (
            f"results rejected: {len(session.results)} results for {code_cells} code cells "
            f"({session.collected} collected)"
        )
    # At the deadline the cells that ran keep their results (the rest failed on the dead kernel);
    # any other problem means the records cannot be trusted to match the notebook.
    return (session.results if problem is None or stopped.is_set() else []), problem


def _die_with_parent() -> None:
    """Linux: this worker gets SIGKILL when the grader dies, even by SIGKILL (its kernels follow)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def serve(jobs: Connection, answers: Connection) -> None:
    """The worker's loop: a job in, ``(records, problem)`` out, until the pipe closes."""
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # only nbval and the guard: no xdist
    _die_with_parent()
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, WORKER_MEMORY))
    import nbval.plugin  # noqa: F401  (imported once, here, not once per submission)

    spare = None
    closing: list[threading.Thread] = []  # a used kernel is cleaned up while the next submission runs
    try:
        while True:
            try:
                job = jobs.recv()
            except EOFError:
                return
            if job is None:
                return
            kernel = spare if spare is not None and spare[0] == job.kernel_kind else None
            if kernel is None and spare is not None:
                spare[1].close()
            kernel = kernel[1] if kernel else job.kernel()
            spare = None
            out = io.StringIO()
            try:
                # The next submission's kernel starts now, while this one runs.
                spare = (job.kernel_kind, job.kernel())
                answer = _run(job, kernel, out)
            except Exception as error:  # reported as this submission's problem; the worker goes on
                answer = ([], f"grader error: {error.__class__.__name__}: {error}")
            finally:
                kernel.kill()
                closing = [thread for thread in closing if thread.is_alive()]
                closing.append(threading.Thread(target=kernel.close))
                closing[-1].start()
            answers.send(answer)
    finally:
        if spare is not None:
            spare[1].close()
        for thread in closing:
            thread.join()


class Worker:
    """The parent's handle on one worker process; restarted after it is killed or dies."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.jobs = self.answers = None

    def run(self, job: Job) -> tuple[list[dict], str | None]:
        if self.process is None or self.process.poll() is not None:
            self._start()
        try:
            self.jobs.send(job)
            if self.answers.poll(job.submission_timeout + GRACE):
                return self.answers.recv()
            self.stop()
            return [], f"stopped after {job.submission_timeout} s for the whole notebook"
        except (EOFError, OSError) as error:
            self.stop()
            return [], f"grader error: the grading worker ended ({error.__class__.__name__})"

    def _start(self) -> None:
        """A worker process (:func:`main`) with two pipes: jobs in, answers out.

        A plain subprocess, not multiprocessing's spawn, which would re-run the caller's main
        script in the worker (a script or notebook without ``if __name__ == "__main__"``)."""
        jobs_read, jobs_write = os.pipe()
        answers_read, answers_write = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WORKER_MAIN, str(jobs_read), str(answers_write)],
            pass_fds=(jobs_read, answers_write),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        os.close(jobs_read)
        os.close(answers_write)
        self.jobs, self.answers = Connection(jobs_write, readable=False), Connection(answers_read, writable=False)

    def stop(self) -> None:
        """End the worker; its kernels (bwrap dies with its parent) go with it."""
        if self.process is None:
            return
        with contextlib.suppress(OSError):
            self.jobs.send(None)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.jobs.close()
        self.answers.close()
        self.process = self.jobs = self.answers = None


class Workers:
    """A fixed set of workers shared by grading threads (``with Workers(2) as workers: ...``)."""

    def __init__(self, count: int) -> None:
        sweep_stale_runs()
        self._idle: queue.Queue[Worker] = queue.Queue()
        self._all = [Worker() for _ in range(max(1, count))]
        for worker in self._all:
            self._idle.put(worker)

    def run(self, job: Job) -> tuple[list[dict], str | None]:
        worker = self._idle.get()
        try:
            return worker.run(job)
        finally:
            self._idle.put(worker)

    def close(self) -> None:
        for worker in self._all:
            worker.stop()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def sweep_stale_runs() -> None:
    """Delete what a grader killed with SIGKILL left: run folders (which may hold hidden tests)
    and kernel folders of processes that no longer exist, and their empty control groups."""
    for folder in Path(tempfile.gettempdir()).glob(f"{RUN_PREFIX}*-*"):
        pid = folder.name.removeprefix(RUN_PREFIX).split("-")[0]
        if folder.is_dir() and pid.isdigit() and not Path("/proc", pid).exists():
            remove_tree(folder)
    sweep_stale_groups()


def main() -> None:
    """The worker process's entry: ``sys.argv[1:]`` are the job and answer pipes' descriptors."""
    serve(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
