"""A tiny exercise, "99_tiny", and a class of generated submissions for the grader's tests.

The exercise has two functions to write, a visible and a hidden test for the first, a visible
test for the second, and one written answer: 10 autograded points in all.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_tools.authoring import make_student_version

NAME = "99_tiny"


def _meta(grade_id: str, *, grade: bool, solution: bool, points: float = 0) -> dict:
    return {
        "nbgrader": {
            "grade_id": grade_id,
            "points": points,
            "grade": grade,
            "solution": solution,
            "locked": grade and not solution,
            "task": False,
            "schema_version": 3,
        }
    }


def solution_notebook() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell("# Tiny exercise"),
        new_code_cell("import math"),
        new_code_cell(
            "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
            metadata=_meta("add_answer", grade=False, solution=True),
        ),
        new_code_cell(
            'from course_lib.checks.probe import probe\nassert add(1, 2) == 3, "add(1, 2) should be 3"\n'
            'probe("add", [add(1, 2), add(2.5, 4)])',
            metadata=_meta("add_visible", grade=True, solution=False, points=2),
        ),
        new_code_cell(
            "### BEGIN HIDDEN TESTS\nfrom course_lib.checks.probe import grading_rng, probe\n"
            "_pairs = grading_rng().integers(-10**6, 10**6, size=(20, 2)).tolist() + [[-5, 5], [10**6, 1]]\n"
            'probe("add", [add(a, b) for a, b in _pairs])\n### END HIDDEN TESTS',
            metadata=_meta("add_hidden", grade=True, solution=False, points=3),
        ),
        new_code_cell(
            "def mul(a, b):\n    ### BEGIN SOLUTION\n    return a * b\n    ### END SOLUTION",
            metadata=_meta("mul_answer", grade=False, solution=True),
        ),
        new_code_cell(
            'assert mul(3, 4) == 12, "mul(3, 4) should be 12"',
            metadata=_meta("mul_visible", grade=True, solution=False, points=5),
        ),
        new_markdown_cell(
            "Addition is commutative because ...", metadata=_meta("explain", grade=True, solution=True, points=2)
        ),
    ]
    nb = new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    return nb


RUBRIC = """\
notebook: 99_tiny.ipynb
title: Tiny exercise
autograded:
  - {grade_id: add_visible, points: 2, description: add works on the visible case}
  - {grade_id: add_hidden, points: 3, description: add works on hidden cases}
  - {grade_id: mul_visible, points: 5, description: mul works, check: in-process}
manual:
  - grade_id: explain
    points: 2
    criterion: explains commutativity
    levels:
      - {points: 2, descriptor: correct and complete}
      - {points: 1, descriptor: partly correct}
      - {points: 0, descriptor: missing or wrong}
"""


def make_course(root: Path) -> Path:
    (root / "solutions").mkdir(parents=True)
    (root / "rubrics").mkdir()
    nbformat.write(solution_notebook(), root / "solutions" / f"{NAME}.ipynb")
    (root / "rubrics" / f"{NAME}.yml").write_text(RUBRIC)
    return root


def _student(answers: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """The exercise as a student gets it, with some answer cells (by grade id) replaced."""
    nb = make_student_version(solution_notebook())
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if answers and gid in answers:
            cell.source = answers[gid]
    return nb


ADD = "def add(a, b):\n    return a + b"
MUL = "def mul(a, b):\n    return a * b"


def _tampered() -> nbformat.NotebookNode:
    """add right, mul wrong, and every trick on the test cells."""
    nb = _student({"add_answer": ADD, "mul_answer": "def mul(a, b):\n    return 0", "explain": "Because."})
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    by_id["mul_visible"].source = "# NBVAL_SKIP\nassert True"  # edited and skipped
    by_id["mul_visible"].metadata["tags"] = ["nbval-skip", "raises-exception"]
    nb.cells.remove(by_id["add_visible"])  # deleted
    nb.cells.insert(
        0,
        nbformat.v4.new_code_cell(
            by_id["add_hidden"].source,  # moved (a copy at the top)
            metadata=by_id["add_hidden"].metadata,
        ),
    )
    nb.cells.append(
        nbformat.v4.new_code_cell(
            by_id["mul_visible"].source,  # duplicated
            metadata=by_id["mul_visible"].metadata,
        )
    )
    return nb


#: student -> (what is in their folder, expected autograded points, expected status prefix)
CLASS: dict[str, tuple[object, float, str]] = {
    "alice": (
        lambda: _student({"add_answer": ADD, "mul_answer": MUL, "explain": "Order does not matter."}),
        10,
        "graded",
    ),
    "bob": (lambda: _student(), 0, "graded"),
    "carol": (lambda: _student({"add_answer": ADD}), 5, "graded"),
    "dave": (_tampered, 5, "graded"),
    "eve": (
        lambda: _student(
            {
                "add_answer": "from IPython import get_ipython\n"
                "get_ipython().showtraceback = lambda *a, **k: None\n"
                "def add(a, b):\n    return 0",
                "mul_answer": MUL,
            }
        ),
        5,
        "graded",
    ),
    "frank": (lambda: _student({"add_answer": "while True:\n    pass", "mul_answer": MUL}), 5, "graded"),
    "grace": (lambda: _student({"add_answer": ADD, "mul_answer": "import os\nos._exit(1)"}), 5, "graded"),
    "heidi": (lambda: _student({"add_answer": ADD, "mul_answer": "import sys\nsys.exit()\n" + MUL}), 5, "graded"),
    "ivan": (
        lambda: _student(
            {"add_answer": ADD, "mul_answer": "blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 2**20))"}
        ),
        5,
        "graded",
    ),
    "judy": (b"{ this is not json", 0, "unreadable: not valid JSON"),
    "ken": (b'["a", "list"]', 0, "unreadable: JSON, but not a Jupyter notebook"),
    "leo": (json.dumps({"nbformat": 2, "cells": []}).encode(), 0, "unreadable: nbformat 2"),
    "mallory": (b"", 0, "unreadable: the file is empty"),
    "nina": (None, 0, "missing"),
}


def write_class(submissions: Path) -> None:
    for student, (content, _, _) in CLASS.items():
        folder = submissions / student
        folder.mkdir(parents=True)
        if content is None:
            continue
        path = folder / f"{NAME}.ipynb"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            nbformat.write(content(), path)


def processes_with(marker: str) -> list[int]:
    """Pids of the processes whose command line holds ``marker`` (what an attack left running)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


@functools.cache
def _assignment(name: str, root: Path):
    from course_tools.grading.runner import Assignment

    return Assignment.load(name, root / "solutions", root / "rubrics")


def outcomes_with_answers(name: str, answers: dict[str, str], folder: Path, root: Path) -> dict[str, str]:
    """Grade ``root/solutions/name.ipynb`` with ``answers`` (by grade id) put in, for real; each
    check's outcome. Used by the tests of honest and wrong answers (tests/test_answers_*.py)."""
    from course_tools.cells import grade_id
    from course_tools.grading.runner import Limits, grade_submission

    answers = dict(answers)
    nb = nbformat.read(root / "solutions" / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if grade_id(cell) in answers:
            cell.source = answers.pop(grade_id(cell))
    assert not answers, f"no answer cells {sorted(answers)}"
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    assignment = _assignment(name, root)  # one reference run for all the answers of a test module
    result = grade_submission("student", path, assignment, Limits(cell_timeout=60, submission_timeout=300))
    assert result.status.startswith("graded"), result.status
    return {gid: cell.outcome for gid, cell in result.cells.items()}
