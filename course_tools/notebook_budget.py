"""A pytest plugin: every executed notebook's wall time and peak memory, and the ceilings.

The course's test suite loads it from the root ``conftest.py``; load it elsewhere with
``pytest -p course_tools.notebook_budget --nbval-lax ...``.

nbval runs each notebook in its own kernel, one test item per code cell. This plugin notes
when a notebook's first cell starts and its last cell ends (kernel start and shutdown
included), reads the kernel's peak resident memory (Linux ``VmHWM``; elsewhere the largest
RSS seen after a cell), and

- appends one JSON line per notebook to ``build/reports/notebooks.jsonl`` under the rootdir
  (or ``$COURSE_REPORT_DIR``; xdist workers append to the same file), turned into
  ``notebooks.md`` beside it and a terminal table at the end of the run;
- saves the executed notebook (with the outputs nbval collected) under ``build/executed/``
  (or ``$COURSE_EXECUTED_DIR``), so the static site and reports reuse this run instead of
  executing the notebooks again;
- fails the notebook's last cell (at teardown) when it went over a hard ceiling of
  COURSE.md: 90 s of wall time or 1 GiB of kernel memory. The 60 s budget is reported, not
  enforced.

Memory of processes the kernel starts (a server, say) is not included. The ceilings can be
lowered for tests of this plugin with ``COURSE_CEILING_SECONDS`` and ``COURSE_CEILING_MIB``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest

from course_tools.bursty_load import cpus

BUDGET_SECONDS = 60
CEILING_SECONDS = float(os.environ.get("COURSE_CEILING_SECONDS", 90))
CEILING_BYTES = float(os.environ.get("COURSE_CEILING_MIB", 1024)) * 2**20

_notebooks: dict[str, dict] = {}


def _is_notebook_cell(item: pytest.Item) -> bool:
    return hasattr(item, "cell_num") and hasattr(item.parent, "kernel")


def _kernel_peak_bytes(item: pytest.Item) -> int | None:
    kernel = item.parent.kernel
    try:
        pid = kernel.km.provisioner.pid
    except AttributeError:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss
    except Exception:
        return None


def _backends() -> str:
    real = [
        name
        for name, var in (
            ("postgresql", "COURSE_DATABASE_URL"),
            ("redis", "COURSE_REDIS_URL"),
            ("prometheus", "COURSE_PROMETHEUS_URL"),
        )
        if os.environ.get(var)
    ]
    return "real " + "+".join(real) if real else "embedded"


def _report_dir(config: pytest.Config) -> Path:
    return Path(os.environ.get("COURSE_REPORT_DIR") or config.rootpath / "build" / "reports")


def _save_executed(item: pytest.Item) -> None:
    executed = Path(os.environ.get("COURSE_EXECUTED_DIR") or item.config.rootpath / "build" / "executed")
    target = executed / item.parent.path.relative_to(item.config.rootpath)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(item.parent.nb, target)


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist)
        _report_dir(config).mkdir(parents=True, exist_ok=True)
        if not os.environ.get("COURSE_REPORT_APPEND"):
            (_report_dir(config) / "notebooks.jsonl").unlink(missing_ok=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    if _is_notebook_cell(item):
        key = item.parent.nodeid
        _notebooks.setdefault(key, {"start": time.perf_counter(), "peak": 0, "cells": 0})
        item._last_in_notebook = nextitem is None or nextitem.parent is not item.parent
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    if not _is_notebook_cell(item):
        return
    state = _notebooks[item.parent.nodeid]
    if call.when == "call":
        state["cells"] += 1
        state["peak"] = max(state["peak"], _kernel_peak_bytes(item) or 0)
        item.cell.outputs = list(item.test_outputs or [])
        item.cell.execution_count = state["cells"]
    if call.when != "teardown" or not getattr(item, "_last_in_notebook", False):
        return
    _save_executed(item)
    seconds = time.perf_counter() - state["start"]
    row = {
        "notebook": item.parent.nodeid,
        "seconds": round(seconds, 1),
        "peak_mib": round(state["peak"] / 2**20, 1),
        "cells": state["cells"],
        "backends": _backends(),
        "cpus": cpus(),
    }
    with (_report_dir(item.config) / "notebooks.jsonl").open("a") as f:
        f.write(json.dumps(row) + "\n")
    problems = []
    if seconds > CEILING_SECONDS:
        problems.append(f"it ran {seconds:.1f} s; the hard ceiling is {CEILING_SECONDS:g} s")
    if state["peak"] > CEILING_BYTES:
        problems.append(
            f"its kernel peaked at {state['peak'] / 2**20:.0f} MiB; the ceiling is {CEILING_BYTES / 2**20:g} MiB"
        )
    if problems:
        report = outcome.get_result()
        report.outcome = "failed"
        report.longrepr = (
            f"{item.parent.nodeid} is over budget: {'; '.join(problems)} (COURSE.md, Budgets). "
            "Make the notebook smaller or faster."
        )


def _read_rows(lines: Path) -> list[dict]:
    if not lines.exists():
        return []
    rows = [json.loads(line) for line in lines.read_text().splitlines() if line.strip()]
    return sorted(rows, key=lambda r: (r["notebook"], r["backends"], -r.get("cpus", 0)))


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    report_dir = _report_dir(config)
    rows = _read_rows(report_dir / "notebooks.jsonl")
    if not rows:
        return
    lines = ["| notebook | backends | CPUs | cells | wall time (s) | kernel peak (MiB) |", "|---|---|---|---|---|---|"]
    for r in rows:
        flag = " (over the 60 s budget)" if r["seconds"] > BUDGET_SECONDS else ""
        lines.append(
            f"| {r['notebook']} | {r['backends']} | {r.get('cpus', '?')} | {r['cells']} "
            f"| {r['seconds']}{flag} | {r['peak_mib']} |"
        )
    (report_dir / "notebooks.md").write_text("# Notebook wall time and peak memory\n\n" + "\n".join(lines) + "\n")
    terminalreporter.write_sep("-", f"notebooks: wall time and kernel peak memory ({report_dir / 'notebooks.md'})")
    for line in lines:
        terminalreporter.write_line(line)
