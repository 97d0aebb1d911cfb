"""Benchmark: the class grader vs plain sequential ``pytest --nbval-lax`` on the same notebooks.

    .venv/bin/python tests/bench_grading.py [N] [--jobs J] [--assignment NN_name]

Makes N copies of a solution notebook as a class of N students, grades them with the grader
(parallel, sandboxed, tests restored), then runs plain ``pytest --nbval-lax`` on the same N
files in one sequential process, in the same run, and prints both wall times and their
ratio. A benchmark, not a test: it prints figures and asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib.environment import machine_summary  # noqa: E402
from course_tools.grading.cli import grade_class  # noqa: E402
from course_tools.grading.runner import Assignment  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", type=int, nargs="?", default=8, help="students (copies), default 8")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="grader's parallel jobs")
    parser.add_argument("--assignment", default="01_performance_fundamentals")
    args = parser.parse_args()
    assignment = Assignment.load(args.assignment, ROOT / "solutions", ROOT / "rubrics")
    with tempfile.TemporaryDirectory() as tmp:
        submissions, plain = Path(tmp) / "submissions", Path(tmp) / "plain"
        plain.mkdir()
        for i in range(args.n):
            (submissions / f"student{i:03d}").mkdir(parents=True)
            shutil.copy(
                ROOT / "solutions" / f"{args.assignment}.ipynb",
                submissions / f"student{i:03d}" / f"{args.assignment}.ipynb",
            )
            shutil.copy(ROOT / "solutions" / f"{args.assignment}.ipynb", plain / f"student{i:03d}.ipynb")

        start = time.perf_counter()
        results = grade_class(submissions, assignment, Path(tmp) / "out", jobs=args.jobs, progress=lambda _: None)
        graded = time.perf_counter() - start
        assert all(r.status == "graded" for r in results), [r.status for r in results]

        (plain / "pytest.ini").write_text("[pytest]\n")
        start = time.perf_counter()
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:xdist",
                "-p",
                "no:cacheprovider",
                "--nbval-lax",
                "--nbval-current-env",
                ".",
            ],
            cwd=plain,
            capture_output=True,
            text=True,
        )
        sequential = time.perf_counter() - start
        assert run.returncode == 0, run.stdout[-2000:]

    print(f"machine: {machine_summary()}")
    print(f"assignment: {args.assignment}, N = {args.n} submissions, grader jobs = {args.jobs}")
    print(f"course-grade (parallel, sandboxed, tests restored): {graded:.1f} s")
    print(f"plain sequential pytest --nbval-lax:                {sequential:.1f} s")
    print(f"ratio grader / plain: {graded / sequential:.2f}")


if __name__ == "__main__":
    main()
