"""Run the notebook suite N times beside bursty CPU load and count the failures per notebook and cell.

``make stress N=20`` (or ``python course_tools/stress.py --runs 20``) runs, N times, every lesson and
solution notebook plus the graded-solution tests (``tests/test_exercises_grade.py``) with
``course_tools/bursty_load.py`` beside them, then prints one row per failing cell or test with the
number of runs it failed in. ``--one-core`` pins the runs to one CPU (the loaders stay free),
as on Binder. Expected: no rows. Exit status 1 when anything failed.

Each run's JUnit XML and log (and the last run's executed notebooks and timings) are kept
under ``build/stress/`` to read the tracebacks.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from course_tools.bursty_load import exit_on_sigterm, run_under_load

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ["notebooks", "solutions", "tests/test_exercises_grade.py"]


def failures(junit: Path) -> list[str]:
    """The failing items of one run, as ``file::test`` (``notebook::Cell N`` for notebook cells)."""
    if not junit.exists():
        return ["(the run wrote no report: see its log)"]
    failed = []
    for case in ET.parse(junit).iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            path = case.get("file") or case.get("classname", "").replace(".", "/")
            failed.append(f"{path}::{case.get('name')}")
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="how many runs (default 10)")
    parser.add_argument("--one-core", action="store_true", help="pin the runs to one CPU, as on Binder")
    parser.add_argument("targets", nargs="*", default=TARGETS, help=f"what to run (default: {' '.join(TARGETS)})")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    out = ROOT / "build" / "stress"
    out.mkdir(parents=True, exist_ok=True)
    counts: collections.Counter[str] = collections.Counter()
    # Executed copies and timing reports go beside the runs, not over those of `make test`.
    env = {**os.environ, "COURSE_EXECUTED_DIR": str(out / "executed"), "COURSE_REPORT_DIR": str(out / "reports")}
    for run in range(1, args.runs + 1):
        junit, log = out / f"run{run:02d}.xml", out / f"run{run:02d}.log"
        junit.unlink(missing_ok=True)
        workers = ["-n", "0"] if args.one_core else []
        command = [sys.executable, "-m", "pytest", "-q", *workers, f"--junitxml={junit}", *args.targets]
        started = time.perf_counter()
        with log.open("w") as f:
            code = run_under_load(
                command, pin_one_core=args.one_core, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT
            )
        failed = failures(junit) if code else []
        counts.update(set(failed))
        print(
            f"run {run}/{args.runs}: exit {code}, {len(failed)} failed, {time.perf_counter() - started:.0f} s",
            flush=True,
        )
    print(f"\nfailures in {args.runs} runs with bursty load{' on one core' if args.one_core else ''}:")
    if not counts:
        print("  none")
        return 0
    width = max(map(len, counts))
    for item, n in sorted(counts.items()):
        print(f"  {item:{width}}  {n}/{args.runs}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
