"""A pytest plugin that makes nbval fit for grading. The grader loads it in its worker; an
instructor can reproduce a grade by hand on a graded copy (the submission with its tests
restored) with ``pytest -p course_tools.grading.nbval_guard --nbval-lax graded.ipynb``.

nbval checks that notebooks run; on its own it is not safe for grading:

- it reads errors only from the kernel's iopub ``error`` messages, so a student cell that
  replaces ``InteractiveShell.showtraceback`` with a no-op silences every later failure.
  Here each cell is also judged by the status of its ``execute_reply``, which the kernel
  sets whether or not a traceback is shown;
- after one cell times out it marks every later cell as expected to fail, so a real failure
  reads XFAIL and a pass XPASS. Here no cell is marked: each is judged on what it did;
- when the kernel dies (``os._exit``, a crash) it waits out the whole cell timeout. Here
  the kernel is polled while waiting, and its death fails the cell at once;
- it keeps every output a cell prints. Here a notebook's outputs are kept up to
  :data:`OUTPUT_CAP` bytes; past that they are dropped (a cell that prints forever cannot
  fill the grader's memory).

For the grader, :class:`GradingSession` (registered by the worker, never by a command line)
hands nbval a kernel started in advance (:mod:`course_tools.grading.kernels`) and keeps each
cell's result, by grade id, in the grader's memory, where the kernel cannot reach.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from queue import Empty

import pytest

from course_lib.checks.probe import read_probes

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
POLL_SECONDS = 0.2
OUTPUT_CAP = 8 * 2**20  # bytes of output kept per notebook
_OUTPUTS = ("stream", "display_data", "execute_result", "update_display_data")


class KernelDied(RuntimeError):
    """The kernel process ended while a cell was running."""


def strip_ansi(text: str) -> str:
    """Remove terminal colour codes (IPython colours its tracebacks)."""
    return ANSI.sub("", text)


def _patch_nbval() -> None:
    """Change nbval's kernel and cell classes, once per process (pytest may run many times)."""
    from nbval.kernel import RunningKernel
    from nbval.plugin import IPyNbCell, IPyNbFile, NbCellError

    if getattr(RunningKernel, "_course_guarded", False):
        return

    def await_reply(self, msg_id, timeout=None):
        """Wait for the execute_reply, noticing a dead kernel at once; keep the reply."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = POLL_SECONDS if deadline is None else max(0.0, min(POLL_SECONDS, deadline - time.monotonic()))
            try:
                msg = self.get_message(stream="shell", timeout=wait)
            except Empty:
                if not self.km.is_alive():
                    raise KernelDied(
                        "The kernel died while running this cell (os._exit, a crash, or "
                        "the memory cap). Every later cell fails too."
                    ) from None
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                self.last_reply = msg["content"]
                return

    original_get_message = RunningKernel.get_message

    def get_message(self, stream, timeout=None):
        """nbval's, with the notebook's outputs capped at OUTPUT_CAP bytes."""
        msg = original_get_message(self, stream, timeout=timeout)
        if stream == "iopub" and msg["msg_type"] in _OUTPUTS:
            self.output_bytes = getattr(self, "output_bytes", 0) + len(str(msg["content"]))
            if self.output_bytes > OUTPUT_CAP:
                msg["msg_type"] = "comm_msg"  # a type nbval skips: the output is dropped
        return msg

    def cell_setup(self):
        """No expected-to-fail marks after a timeout: each cell is graded on what it did."""

    original_runtest = IPyNbCell.runtest

    def runtest(self):
        self.parent.kernel.last_reply = None
        original_runtest(self)
        reply = self.parent.kernel.last_reply or {}
        if reply.get("status") == "error":
            raise NbCellError(
                self.cell_num,
                (
                    f"The cell raised {reply.get('ename')}: {reply.get('evalue')}. (Its traceback was not "
                    "shown, perhaps because an earlier cell changed how errors are displayed.)"
                ),
                self.cell.source,
            )

    original_file_setup = IPyNbFile.setup

    def file_setup(self):
        """The grading session's kernel when there is one, else nbval's own."""
        sessions = [p for p in self.config.pluginmanager.get_plugins() if isinstance(p, GradingSession)]
        if not sessions:
            return original_file_setup(self)
        self.kernel = sessions[0].hand_over()
        self.setup_sanitize_files()

    RunningKernel.await_reply = await_reply
    RunningKernel.get_message = get_message
    IPyNbCell.setup = cell_setup
    IPyNbCell.runtest = runtest
    IPyNbFile.setup = file_setup
    RunningKernel._course_guarded = True


def pytest_configure(config: pytest.Config) -> None:
    _patch_nbval()


class GradingSession:
    """One submission's run: the kernel nbval gets, and the results, kept in memory.

    ``kernel`` starts or hands over the kernel; the notebook file (with its hidden tests) is
    deleted as soon as pytest has read it, so it is on disk for milliseconds only.
    """

    def __init__(self, notebook: Path, kernel: Callable[[], object], probe_prefix: str | None = None):
        self.notebook = notebook
        self.kernel = kernel
        self.probe_prefix = probe_prefix  # the start of a probe line this run (course_lib.checks.probe)
        self.results: list[dict] = []
        self.collected = 0
        self.handed_over = False

    def hand_over(self):
        """The kernel for nbval (called once, by the notebook's setup)."""
        self.handed_over = True
        return self.kernel()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected = len(session.items)
        self.notebook.unlink(missing_ok=True)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        failed_setup = call.when == "setup" and report.failed
        if call.when != "call" and not failed_setup:
            return
        nbgrader = item.cell.metadata.get("nbgrader", {}) if hasattr(item, "cell") else {}
        self.results.append(
            {
                "cell": getattr(item, "cell_num", None),
                "grade_id": nbgrader.get("grade_id"),
                "outcome": "passed" if report.passed else ("skipped" if report.skipped else "failed"),
                "message": "" if report.passed else strip_ansi(report.longreprtext)[-4000:],
                "seconds": round(call.duration, 3),
                "probes": self._probes(item),
            }
        )

    def _probes(self, item) -> list[dict]:
        """The values the cell handed to ``probe(...)``, read from what it printed."""
        if not self.probe_prefix:
            return []
        text = "".join(
            out.get("text", "") for out in getattr(item, "test_outputs", None) or [] if out.get("name") == "stdout"
        )
        return read_probes(text, self.probe_prefix)
