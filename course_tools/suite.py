"""The whole test suite, as `make test` runs it, in four steps:

1. ``pytest`` on the unit tests and every lesson and solution notebook (and the grading of every
   reference solution), with the backends the environment names (real PostgreSQL/Redis in CI,
   embedded elsewhere); executed copies of the notebooks are kept under ``build/executed/``;
2. when a service URL is set, the notebooks that use a service (notebook metadata
   ``course.services``) once more on the embedded backends, so both paths are proven;
3. every lesson once more, one after another, pinned to one CPU as on Binder;
4. ``pytest -m site``: the tests that need step 1's executed notebooks (static site, browser).

Steps 1 to 3 run beside bursty CPU load (``course_tools/bursty_load.py``: more busy loops than cores,
each switching on and off at random), because a busy machine is the normal machine: a claim or a
check that only holds on a quiet one fails here. ``--no-load`` (``make test LOAD=0``) runs without
the load and without step 3, for a quick look; CI never uses it.

Other arguments go to step 1 (``make test PYTEST_ARGS="-k harness"``); step 3 then runs only if
they name no subset (a run without arguments). Exit status: the first failing step's, else 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

from course_tools.bursty_load import bursty_load, exit_on_sigterm, pin_to_one_core

ROOT = Path(__file__).resolve().parents[1]
SERVICE_VARIABLES = ("COURSE_DATABASE_URL", "COURSE_REDIS_URL", "COURSE_PROMETHEUS_URL")


def service_notebooks() -> list[str]:
    """Lessons and solutions whose metadata says they use a service."""
    found = []
    for path in sorted([*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("solutions/*.ipynb")]):
        if json.loads(path.read_text()).get("metadata", {}).get("course", {}).get("services"):
            found.append(str(path.relative_to(ROOT)))
    return found


def pytest(title: str, args: list[str], env: dict[str, str] | None = None, pin_one_core: bool = False) -> int:
    print(f"\n=== {title}: pytest {' '.join(args)}", flush=True)
    preexec = pin_to_one_core if pin_one_core else None
    return subprocess.call([sys.executable, "-m", "pytest", *args], cwd=ROOT, env=env, preexec_fn=preexec)


def main(argv: list[str]) -> int:
    exit_on_sigterm()
    load = "--no-load" not in argv
    argv = [arg for arg in argv if arg != "--no-load"]
    appended = {**os.environ, "COURSE_REPORT_APPEND": "1"}
    with bursty_load() if load else contextlib.nullcontext():
        if load:
            print("=== bursty CPU load runs beside steps 1-3 (make test LOAD=0 for a quiet run)", flush=True)
        codes = [pytest("unit tests and notebooks", ["-m", "not site", *argv])]
        real = [name for name in SERVICE_VARIABLES if os.environ.get(name)]
        notebooks = service_notebooks()
        if real and notebooks:
            embedded = {k: v for k, v in appended.items() if k not in SERVICE_VARIABLES}
            embedded["COURSE_EXECUTED_DIR"] = str(ROOT / "build" / "executed-embedded")
            codes.append(pytest("service notebooks again, on the embedded backends", notebooks, embedded))
        if load and not argv and hasattr(os, "sched_setaffinity"):
            one = {**appended, "COURSE_EXECUTED_DIR": str(ROOT / "build" / "executed-one-core")}
            codes.append(pytest("every lesson again, on one CPU", ["-n", "0", "notebooks"], one, pin_one_core=True))
    if any("mark.site" in path.read_text() for path in (ROOT / "tests").glob("test_*.py")):
        codes.append(pytest("static site and browser", ["-m", "site", "-n", "0", "tests"], appended))
    return next((code for code in codes if code), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
