"""``course-grade SUBMISSIONS`` (or ``python -m course_tools.grading SUBMISSIONS``).

Input: ``SUBMISSIONS/<student>/<NN_name>.ipynb``, one folder per student, the notebook named
exactly as the exercise. Output, per assignment, in ``--out`` (default ``grading/``):

- ``<NN_name>/grades.csv``: a row per student: a column per autograded check, the autograded
  total and maximum, an empty column per manual criterion for you to fill in, and a status;
- ``<NN_name>/feedback/<student>.md``: what passed, what failed and why, the points;
- ``<NN_name>/summary.md`` and ``summary.png``: score distribution, pass rate per check (the most
  missed first) and, per check, the failure messages seen most often, grouped.

A broken or missing notebook gets a status in its row; it never stops the class.

Each submission runs in a bubblewrap sandbox where ``bwrap`` works (Debian: ``apt-get install
bubblewrap``): it sees only its own work folder, the Python environment and ``course_lib``; it
has no network but its own loopback, and nothing it starts outlives it. Set
``COURSE_GRADE_SANDBOX`` to ``auto`` (default: sandbox if possible, else grade without one and
say so once), ``required`` (refuse to grade without a sandbox) or ``off``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

import nbformat

from course_tools.grading.confine import usable_hierarchies
from course_tools.grading.output import open_fresh
from course_tools.grading.report import write_reports
from course_tools.grading.runner import Assignment, Limits, ReferenceFailed, SubmissionResult, grade_submission
from course_tools.grading.sandbox import SandboxUnavailable, sandbox_for_run, say_once
from course_tools.grading.worker import Workers


def grade_class(
    submissions: Path,
    assignment: Assignment,
    out: Path,
    limits: Limits = Limits(),
    jobs: int | None = None,
    progress=print,
    resume: bool = False,
) -> list[SubmissionResult]:
    """Grade every student folder in ``submissions`` for ``assignment``; write the reports.

    Each result is also appended to ``graded.jsonl`` as soon as it is known. With ``resume``, a
    student whose notebook, exercise and limits are unchanged since that file was written keeps
    the result found there (a run that was interrupted goes on where it stopped).
    """
    folder = out / assignment.name
    students = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    journal = Journal(folder / "graded.jsonl", _fingerprint(assignment, limits))
    kept = journal.load() if resume else {}
    journal.start(keep=kept)
    results = []
    for student in students:
        if student.name in kept and kept[student.name][0] == _digest(student / f"{assignment.name}.ipynb"):
            results.append(kept[student.name][1])
    if results:
        progress(f"kept {len(results)} results from the interrupted run (--resume)")
    todo = [s for s in students if s.name not in {r.student for r in results}]
    jobs = jobs or os.cpu_count() or 1
    with Workers(jobs) as workers, ThreadPoolExecutor(max_workers=jobs) as pool:
        if todo:  # the reference solution's values, once, before any student (raises ReferenceFailed)
            expected = assignment.expected(limits, workers)
            progress(f"reference solution: values for {len(expected)} trusted checks (inputs' seed {assignment.seed})")
        futures = {
            pool.submit(grade_submission, s.name, s / f"{assignment.name}.ipynb", assignment, limits, workers): s
            for s in todo
        }
        for done, future in enumerate(as_completed(futures), len(results) + 1):
            result = future.result()
            results.append(result)
            journal.add(result, _digest(futures[future] / f"{assignment.name}.ipynb"))
            progress(
                f"[{done}/{len(students)}] {result.student}: {result.total:g}/"
                f"{assignment.rubric.autograded_total:g} ({result.status})"
            )
    write_reports(results, assignment, folder)
    return sorted(results, key=lambda r: r.student)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _fingerprint(assignment: Assignment, limits: Limits) -> str:
    """What a kept result depends on besides the notebook: the tests, the rubric, the limits."""
    text = nbformat.writes(assignment.template) + repr(assignment.rubric) + repr(limits)
    return hashlib.sha256(text.encode()).hexdigest()


class Journal:
    """``graded.jsonl``: a line per graded student, written as grading goes, read by ``--resume``."""

    def __init__(self, path: Path, fingerprint: str):
        self.path, self.fingerprint = path, fingerprint

    def load(self) -> dict[str, tuple[str | None, SubmissionResult]]:
        """Results of this exercise, tests and limits, by student: (notebook digest, result)."""
        kept = {}
        try:
            lines = self.path.read_text().splitlines()
        except OSError:
            return {}
        for line in lines:
            try:
                entry = json.loads(line)
                if entry["fingerprint"] == self.fingerprint:
                    kept[entry["student"]] = (entry["digest"], SubmissionResult.from_dict(entry["result"]))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by the interruption
        return kept

    def start(self, keep: dict[str, tuple[str | None, SubmissionResult]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open_fresh(self.path) as f:
            for digest, result in keep.values():
                f.write(self._line(result, digest))

    def add(self, result: SubmissionResult, digest: str | None) -> None:
        with open(self.path, "a") as f:
            f.write(self._line(result, digest))

    def _line(self, result: SubmissionResult, digest: str | None) -> str:
        entry = {"fingerprint": self.fingerprint, "student": result.student, "digest": digest, "result": asdict(result)}
        return json.dumps(entry) + "\n"


def _assignments_in(submissions: Path, solutions: Path) -> list[str]:
    handed_in = {p.stem for p in submissions.glob("*/*.ipynb")}
    return sorted(p.stem for p in solutions.glob("*.ipynb") if p.stem in handed_in)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="course-grade", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("submissions", type=Path, help="folder with one sub-folder per student")
    parser.add_argument(
        "--assignment",
        action="append",
        metavar="NN_name",
        help="grade only this exercise (repeatable); default: every exercise handed in",
    )
    parser.add_argument(
        "--course",
        type=Path,
        default=Path.cwd(),
        help="course folder holding solutions/ and rubrics/ (default: current folder)",
    )
    parser.add_argument("--out", type=Path, default=Path("grading"), help="where to write (default: grading/)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the results of an interrupted run (graded.jsonl) for unchanged notebooks; grade the rest",
    )
    parser.add_argument("--jobs", type=int, default=None, help="submissions graded at once (default: cores)")
    parser.add_argument("--cell-timeout", type=int, default=Limits.cell_timeout, help="seconds per cell")
    parser.add_argument("--memory-mb", type=int, default=Limits.memory_mb, help="memory cap per submission")
    parser.add_argument(
        "--submission-timeout", type=int, default=Limits.submission_timeout, help="seconds for one whole notebook"
    )
    args = parser.parse_args(argv)

    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder; expected SUBMISSIONS/<student>/<NN_name>.ipynb")
    solutions, rubrics = args.course / "solutions", args.course / "rubrics"
    if not solutions.is_dir():
        parser.error(f"no solutions/ folder in {args.course}; run from the course folder or pass --course")
    try:
        sandbox_for_run()  # refuses now if required and missing; else says once if there is none
    except SandboxUnavailable as error:
        parser.error(str(error))
    missing = usable_hierarchies()[1]
    if missing:
        say_once(f"no memory and process limit for a whole submission, only per process: {missing}")
    names = args.assignment or _assignments_in(args.submissions, solutions)
    if not names:
        parser.error(f"no notebook in {args.submissions}/<student>/ is named like an exercise in {solutions}")
    limits = Limits(args.cell_timeout, args.memory_mb, args.submission_timeout)
    for name in names:
        try:
            assignment = Assignment.load(name, solutions, rubrics)
        except (FileNotFoundError, ValueError) as error:
            parser.error(str(error))
        print(f"Grading {name} ...", file=sys.stderr)
        try:
            grade_class(
                args.submissions,
                assignment,
                args.out,
                limits,
                args.jobs,
                progress=lambda line: print(line, file=sys.stderr),
                resume=args.resume,
            )
        except ReferenceFailed as error:
            parser.exit(2, f"course-grade: cannot grade {name}: {error}\n")
        print(f"Wrote {args.out / name}/grades.csv, feedback/ and summary.md", file=sys.stderr)
    return 0
