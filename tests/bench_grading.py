"""Benchmark: course-grade against ``nbgrader autograde`` on the same nbgrader assignment.

    .venv/bin/python tests/bench_grading.py [--rounds R]
    .venv/bin/python tests/bench_grading.py --copies N [--assignment NN_name] [--jobs J]

Default mode: writes a small nbgrader assignment "ps1" (source notebook with nbgrader's schema 3
metadata: two answer cells, three graded test cells, one with a hidden test) and a class of 20
submissions made from nbgrader's release version (10 correct, 5 partly correct, 5 untouched).
It grades them R times in rotating order with ``nbgrader autograde`` (in an nbgrader course
folder with its gradebook) and with course-grade at --jobs 1 and --jobs 2 (the source notebook
as the solution, points from its metadata, sandbox as COURSE_GRADE_SANDBOX says), prints the
median wall times, and compares the two graders' scores on every test cell of every student.

nbgrader is a benchmark-only dependency: it is installed into its own venv, build/bench-nbgrader/
(created with ``python -m venv`` and ``pip install nbgrader`` when missing), never into .venv.

Copies mode (--copies N): grades N copies of solutions/NN_name.ipynb, half of them the solution
and half the unsolved exercises/NN_name.ipynb, with course-grade and prints the wall time.

A benchmark, not a test: it asserts nothing about time. It exits non-zero only if the scores of
nbgrader and course-grade disagree (or a grader fails to run).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib.environment import machine_summary  # noqa: E402
from course_tools.grading.cli import grade_class  # noqa: E402
from course_tools.grading.runner import Assignment  # noqa: E402
from course_tools.grading.sandbox import sandbox_for_run  # noqa: E402

NAME = "ps1"
NBGRADER_VENV = ROOT / "build" / "bench-nbgrader"


def _meta(grade_id: str, *, points: float | None = None) -> dict:
    """Cell metadata as nbgrader's create-assignment tool writes it: an answer cell, or a test cell with points."""
    test = points is not None
    meta = {"grade": test, "grade_id": grade_id, "locked": test, "schema_version": 3, "solution": not test}
    return {"nbgrader": meta | {"task": False} | ({"points": points} if test else {})}


def source_notebook() -> nbformat.NotebookNode:
    """ps1 as the instructor writes it: mean() and count_words(), 10 points in three test cells."""
    return new_notebook(
        cells=[
            new_markdown_cell("# Problem set 1\n\nWrite `mean` and `count_words`."),
            new_code_cell(
                "def mean(xs):\n    ### BEGIN SOLUTION\n    return sum(xs) / len(xs)\n    ### END SOLUTION",
                metadata=_meta("mean_answer"),
            ),
            new_code_cell("assert mean([1, 2, 3]) == 2", metadata=_meta("mean_visible", points=2)),
            new_code_cell(
                "assert mean([5]) == 5\n### BEGIN HIDDEN TESTS\nassert mean([1, 2]) == 1.5\n"
                "assert mean([-1, 1]) == 0\n### END HIDDEN TESTS",
                metadata=_meta("mean_hidden", points=3),
            ),
            new_code_cell(
                "def count_words(text):\n    ### BEGIN SOLUTION\n    return len(text.split())\n    ### END SOLUTION",
                metadata=_meta("count_answer"),
            ),
            new_code_cell(
                'assert count_words("a b  c") == 3\nassert count_words("") == 0',
                metadata=_meta("count_visible", points=5),
            ),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )


MEAN, COUNT = "def mean(xs):\n    return sum(xs) / len(xs)", "def count_words(text):\n    return len(text.split())"
CORRECT = {"mean_answer": MEAN, "count_answer": COUNT}  # 10 points
PARTLY = [
    {"mean_answer": "def mean(xs):\n    return sum(xs) // len(xs)", "count_answer": COUNT},  # 7: fails the hidden test
    {"mean_answer": MEAN, "count_answer": "def count_words(text):\n    return len(text.split(' '))"},  # 5
]


def class_of_students(release: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """20 submissions made from the student version: 10 correct, 5 partly correct, 5 untouched."""
    students = {}
    for number, answer in enumerate([CORRECT] * 10 + [PARTLY[i % 2] for i in range(5)] + [{}] * 5, 1):
        nb = copy.deepcopy(release)
        for cell in nb.cells:
            cell.source = answer.get(cell.metadata.get("nbgrader", {}).get("grade_id"), cell.source)
        students[f"s{number:02d}"] = nb
    return students


# --------------------------------------------------------------------------- nbgrader

READ_GRADEBOOK = """
import json, sys
from nbgrader.api import Gradebook
with Gradebook("sqlite:///" + sys.argv[1]) as gb:
    students = [s.student.id for s in gb.assignment_submissions("ps1")]
    grades = {s: gb.find_submission_notebook("ps1", "ps1", s).grades for s in students}
    print(json.dumps({s: {g.name: g.score for g in cells} for s, cells in grades.items()}))
"""


def nbgrader_venv(venv: Path) -> tuple[Path, dict]:
    """The python of ``venv`` (created with nbgrader in it if missing) and an environment to run it in."""
    python = venv / "bin" / "python"
    if not python.exists() or subprocess.run([python, "-c", "import nbgrader"], capture_output=True).returncode:
        print(f"installing nbgrader into {venv} (benchmark only) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "nbgrader"], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return python, env


def nbgrader(python: Path, env: dict, course: Path, *args: str) -> str:
    """``python -m nbgrader ARGS`` in ``course`` (or ``python -c CODE ARGS`` if ARGS start with -c)."""
    command = [python, *([] if args[0] == "-c" else ["-m", "nbgrader"]), *args]
    run = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True)
    if run.returncode:
        sys.exit(f"nbgrader {' '.join(args)[:60]} failed:\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
    return run.stdout


def write_config(course: Path) -> None:
    (course / "nbgrader_config.py").write_text(f"c = get_config()\nc.CourseDirectory.root = {str(course)!r}\n")


def make_nbgrader_course(course: Path, python: Path, env: dict) -> nbformat.NotebookNode:
    """An nbgrader course folder with ps1 released and in the gradebook; returns the release notebook."""
    (course / "source" / NAME).mkdir(parents=True)
    write_config(course)
    nbformat.write(source_notebook(), course / "source" / NAME / f"{NAME}.ipynb")
    (course / "students.csv").write_text("id\n" + "".join(f"s{n:02d}\n" for n in range(1, 21)))
    nbgrader(python, env, course, "db", "assignment", "add", NAME)
    nbgrader(python, env, course, "db", "student", "import", "students.csv")
    nbgrader(python, env, course, "generate_assignment", NAME)
    return nbformat.read(course / "release" / NAME / f"{NAME}.ipynb", as_version=4)


def run_nbgrader(template: Path, work: Path, python: Path, env: dict) -> tuple[float, dict]:
    """Time ``nbgrader autograde ps1`` on a fresh copy of the course folder; (seconds, scores)."""
    shutil.copytree(template, work)
    write_config(work)
    start = time.perf_counter()
    nbgrader(python, env, work, "autograde", NAME)
    seconds = time.perf_counter() - start
    return seconds, json.loads(nbgrader(python, env, work, "-c", READ_GRADEBOOK, str(work / "gradebook.db")))


def run_course_grade(submissions: Path, assignment: Assignment, out: Path, jobs: int) -> tuple[float, dict]:
    start = time.perf_counter()
    results = grade_class(submissions, assignment, out, jobs=jobs, progress=lambda _: None)
    seconds = time.perf_counter() - start
    if bad := [f"{r.student}: {r.status}" for r in results if r.status != "graded"]:
        print("course-grade statuses other than 'graded':", *bad, sep="\n  ")
    return seconds, {r.student: {gid: c.points for gid, c in r.cells.items()} for r in results}


def setup(tmp: Path, venv: Path) -> tuple[Path, dict, Path, Assignment]:
    """The nbgrader course folder with the class in submitted/, and the same files for course-grade."""
    python, env = nbgrader_venv(venv)
    version = nbgrader(python, env, tmp, "--version").strip().splitlines()[-1]
    template = tmp / "nbgrader-course"
    students = class_of_students(make_nbgrader_course(template, python, env))
    for student, nb in students.items():
        folder = template / "submitted" / student / NAME
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{NAME}.ipynb")
        (folder / "timestamp.txt").write_text("2024-01-15 12:00:00.000000 UTC")
        (tmp / "submissions" / student).mkdir(parents=True)
        shutil.copy(folder / f"{NAME}.ipynb", tmp / "submissions" / student / f"{NAME}.ipynb")
    assignment = Assignment.load(NAME, template / "source" / NAME, tmp / "no-rubrics")  # no YAML: metadata points
    print(f"{version} ({venv}); course-grade sandbox: {sandbox_name()}")
    print(f"class: {len(students)} submissions of {NAME} (10 correct, 5 partly correct, 5 untouched), ", end="")
    print(f"{assignment.rubric.autograded_total:g} points in {len(assignment.rubric.autograded)} test cells\n")
    return python, env, template, assignment


def sandbox_name() -> str:
    mode = os.environ.get("COURSE_GRADE_SANDBOX", "auto")
    return f"{'bubblewrap' if sandbox_for_run() else 'none'} (COURSE_GRADE_SANDBOX={mode})"


def compare(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        python, env, template, assignment = setup(tmp, args.nbgrader_venv)
        graders = {
            "nbgrader autograde": lambda r: run_nbgrader(template, tmp / f"nbgrader-{r}", python, env),
            "course-grade --jobs 1": lambda r: run_course_grade(tmp / "submissions", assignment, tmp / f"o1-{r}", 1),
            "course-grade --jobs 2": lambda r: run_course_grade(tmp / "submissions", assignment, tmp / f"o2-{r}", 2),
        }
        names, times, scores = list(graders), {name: [] for name in graders}, {}
        for r in range(args.rounds):
            for name in names[r % 3 :] + names[: r % 3]:  # rotating order
                seconds, scores[name] = graders[name](r)
                times[name].append(seconds)
                print(f"round {r + 1}: {name}: {seconds:.1f} s", flush=True)

    n = len(scores[names[0]])
    median = {name: statistics.median(times[name]) for name in names}
    print(f"\n| grader | median wall time, {n} submissions (s) | per submission (s) | each round (s) |")
    print("| --- | ---: | ---: | --- |")
    for name in names:
        print(
            f"| {name} | {median[name]:.1f} | {median[name] / n:.2f} | {', '.join(f'{t:.1f}' for t in times[name])} |"
        )
    print(f"\nratio course-grade --jobs 2 / nbgrader autograde: {median[names[2]] / median[names[0]]:.2f}")

    theirs = scores[names[0]]
    disagree = [
        f"{student} {gid}: nbgrader {theirs.get(student, {}).get(gid)}, {name} {got.get(gid)}"
        for name in names[1:]
        for student in sorted(set(theirs) | set(scores[name]))
        for got in [scores[name].get(student, {})]
        for gid in sorted(set(got) | set(theirs.get(student, {})))
        if theirs.get(student, {}).get(gid) != got.get(gid)
    ]
    totals = Counter(sum(cells.values()) for cells in theirs.values())
    print(f"nbgrader totals (points: students): {dict(sorted(totals.items(), reverse=True))}")
    if disagree:
        print(f"scores DISAGREE on {len(disagree)} cells:", *disagree, sep="\n  ")
        return 1
    cells = sum(len(cells) for cells in theirs.values())
    print(f"scores agree on all {cells} graded cells of the {n} students (nbgrader, course-grade --jobs 1 and 2)")
    return 0


def copies(args: argparse.Namespace) -> int:
    assignment = Assignment.load(args.assignment, ROOT / "solutions", ROOT / "rubrics")
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        for i in range(args.copies):  # even: the solution, odd: the unsolved exercise
            folder = Path(tmp) / "submissions" / f"student{i:04d}"
            folder.mkdir(parents=True)
            shutil.copy(ROOT / ("exercises" if i % 2 else "solutions") / f"{args.assignment}.ipynb", folder)
        print(f"{args.copies} copies of {args.assignment}, half solved; course-grade sandbox: {sandbox_name()}\n")
        start = time.perf_counter()
        results = grade_class(
            Path(tmp) / "submissions", assignment, Path(tmp) / "out", jobs=args.jobs, progress=lambda _: None
        )
        seconds = time.perf_counter() - start
    scaled = seconds * 200 / args.copies
    met = ("yes" if scaled < 180 else "no") + ("" if args.copies == 200 else f" (scaled to 200: {scaled:.0f} s)")
    print("| submissions | course-grade --jobs | wall time (s) | per submission (s) | 200 in under 180 s |")
    print("| ---: | ---: | ---: | ---: | --- |")
    print(f"| {args.copies} | {args.jobs} | {seconds:.1f} | {seconds / args.copies:.2f} | {met} |")
    top = assignment.rubric.autograded_total
    for kind, rows in (("solved", results[::2]), ("unsolved", results[1::2])):
        seen = Counter((r.total, r.status) for r in rows)
        print(f"{kind}: " + "; ".join(f"{k} x {total:g}/{top:g} ({status})" for (total, status), k in seen.items()))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the three graders (default 3)")
    parser.add_argument(
        "--nbgrader-venv",
        type=Path,
        default=NBGRADER_VENV,
        help=f"venv with nbgrader, created if missing (default {NBGRADER_VENV.relative_to(ROOT)}/)",
    )
    parser.add_argument("--copies", type=int, metavar="N", help="instead: grade N copies of --assignment")
    parser.add_argument("--assignment", default="01_performance_fundamentals", help="exercise for --copies")
    parser.add_argument("--jobs", type=int, default=2, help="course-grade jobs for --copies (default 2)")
    args = parser.parse_args()
    print(f"machine: {machine_summary()}")
    print(f"load average (1, 5, 15 min): {' '.join(Path('/proc/loadavg').read_text().split()[:3])}\n", flush=True)
    return copies(args) if args.copies else compare(args)


if __name__ == "__main__":
    sys.exit(main())
