"""A pytest plugin that makes nbval fit for grading. The grader loads it with
``-p course_tools.grading.nbval_guard``; plain ``pytest --nbval-lax`` never sees it.

nbval checks that notebooks run; on its own it is not safe for grading:

- it reads errors only from the kernel's iopub ``error`` messages, so a student cell that
  replaces ``InteractiveShell.showtraceback`` with a no-op silences every later failure.
  Here each cell is also judged by the status of its ``execute_reply``, which the kernel
  sets whether or not a traceback is shown;
- after one cell times out it marks every later cell as expected to fail, so a real failure
  reads XFAIL and a pass XPASS. Here no cell is marked: each is judged on what it did;
- when the kernel dies (``os._exit``, a crash) it waits out the whole cell timeout. Here
  the kernel is polled while waiting, and its death fails the cell at once;
- its items are named by position (``Cell 7``). Here each result is recorded by the cell's
  grade id (``metadata.nbgrader.grade_id``), written to the JSON file named by
  ``--grading-results`` after every cell, so a crash of the whole run keeps what was done.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from queue import Empty

import pytest

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
POLL_SECONDS = 0.2


class KernelDied(RuntimeError):
    """The kernel process ended while a cell was running."""


def strip_ansi(text: str) -> str:
    """Remove terminal colour codes (IPython colours its tracebacks)."""
    return ANSI.sub("", text)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--grading-results",
        metavar="PATH",
        default=None,
        help="write each graded cell's result, by grade id, to this JSON file",
    )


def pytest_configure(config: pytest.Config) -> None:
    from nbval.kernel import RunningKernel
    from nbval.plugin import IPyNbCell, NbCellError

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

    def setup(self):
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

    RunningKernel.await_reply = await_reply
    IPyNbCell.setup = setup
    IPyNbCell.runtest = runtest
    path = config.getoption("grading_results")
    if path:
        config.pluginmanager.register(ResultRecorder(Path(path)), "grading-results")


class ResultRecorder:
    """Writes ``[{"cell": n, "grade_id": ..., "outcome": ..., "message": ...}, ...]``."""

    def __init__(self, path: Path):
        self.path = path
        self.results: list[dict] = []
        self._write()

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
            }
        )
        self._write()

    def _write(self) -> None:
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(self.results, indent=1))
        os.replace(partial, self.path)
