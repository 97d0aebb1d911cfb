"""The cell format of an exercise notebook: markers, roles, grade ids and points.

``solutions/NN_name.ipynb`` is the single source of truth for an exercise. Its cells carry
nbgrader's cell metadata (same layout, so the notebooks open in nbgrader's tools too) under
``cell.metadata["nbgrader"]``::

    {"grade_id": "percentile_visible", "points": 2, "grade": true, "solution": false,
     "locked": true, "task": false, "schema_version": 3}

Three roles are used (:func:`cell_role`):

``"answer"``  autograded answer: a code cell, ``solution=True, grade=False``. The code
              between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes a stub.
``"test"``    autograded test: a code cell, ``grade=True, solution=False, locked=True,
              points > 0``. Code between ``### BEGIN HIDDEN TESTS`` and
              ``### END HIDDEN TESTS`` is removed from the student version.
``"manual"``  written answer: a markdown cell, ``solution=True, grade=True, points > 0``.
              Its text (the model answer) becomes a placeholder.

Every other cell is copied unchanged: cells without ``nbgrader`` metadata, and nbgrader's
read-only cells (``grade=False, solution=False``, ``locked`` as you like, no points).
In the generated notebooks, locked cells are also marked ``editable: false`` and
``deletable: false`` (JupyterLab honours both), outputs and execution counts are cleared,
and cell ids are kept: a grader matches graded cells by grade id and the others by id.

Everything else in ``course_tools`` builds on this module; it imports none of them.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from nbformat import NotebookNode

__all__ = [
    "AuthoringError",
    "BEGIN_SOLUTION",
    "END_SOLUTION",
    "BEGIN_HIDDEN_TESTS",
    "END_HIDDEN_TESTS",
    "MARKERS",
    "SOLUTION_STUB",
    "MANUAL_PLACEHOLDER",
    "HIDDEN_TESTS_PLACEHOLDER",
    "Role",
    "cell_role",
    "grade_id",
    "cell_points",
    "metadata_for",
    "cells_by_grade_id",
]

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN_TESTS = "### BEGIN HIDDEN TESTS"
END_HIDDEN_TESTS = "### END HIDDEN TESTS"
MARKERS = (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN_TESTS, END_HIDDEN_TESTS)

#: What replaces a solution block in the student version (indented like the block).
SOLUTION_STUB = 'raise NotImplementedError("Not solved yet: replace this line with your code.")'
#: What replaces a written (manual) answer in the student version.
MANUAL_PLACEHOLDER = "YOUR ANSWER HERE"
#: The source of a test cell that held only hidden tests, in the student version.
HIDDEN_TESTS_PLACEHOLDER = (
    "# Hidden tests for this task run when your notebook is graded.\n"
    "# There is nothing to do in this cell; leave it in place."
)

Role = Literal["answer", "test", "manual"]
NBGRADER_KEY = "nbgrader"
SCHEMA_VERSION = 3
_GRADE_ID = re.compile(r"[A-Za-z0-9_-]+")


class AuthoringError(ValueError):
    """A solution notebook breaks an authoring rule; the message says where and how to fix it."""


# --------------------------------------------------------------------------- metadata


def _nbgrader(cell: NotebookNode) -> dict[str, Any] | None:
    meta = cell.get("metadata", {}).get(NBGRADER_KEY)
    return meta if isinstance(meta, dict) else None


def cell_role(cell: NotebookNode) -> Role | None:
    """The grading role of ``cell``: ``"answer"``, ``"test"``, ``"manual"`` or ``None``.

    ``None`` means an ordinary cell (no nbgrader metadata, or metadata that marks no
    graded role, such as a cell that is only ``locked``).
    """
    meta = _nbgrader(cell)
    if meta is None:
        return None
    solution, grade = bool(meta.get("solution")), bool(meta.get("grade"))
    if cell.cell_type == "code":
        if solution and not grade:
            return "answer"
        if grade and not solution:
            return "test"
    elif cell.cell_type == "markdown" and solution and grade:
        return "manual"
    return None


def grade_id(cell: NotebookNode) -> str | None:
    """The cell's nbgrader ``grade_id``, or ``None`` for a cell without one."""
    meta = _nbgrader(cell)
    value = meta.get("grade_id") if meta else None
    return value if isinstance(value, str) and value else None


def cell_points(cell: NotebookNode) -> float:
    """The points of a graded cell (``0.0`` for a cell that carries none)."""
    meta = _nbgrader(cell) or {}
    value = meta.get("points", 0)
    return float(value) if _is_number(value) else 0.0


def metadata_for(role: Role, grade_id: str, points: float = 0) -> dict[str, Any]:
    """The nbgrader metadata of a cell with ``role`` (see :func:`cell_role`).

    >>> metadata_for("test", "percentile_visible", 2)["locked"]
    True
    """
    if role == "answer":
        if points:
            raise ValueError("an answer cell carries no points; put them on its test cells")
        grade, solution, locked = False, True, False
    elif role == "test":
        grade, solution, locked = True, False, True
    elif role == "manual":
        grade, solution, locked = True, True, False
    else:
        raise ValueError(f"role must be 'answer', 'test' or 'manual', got {role!r}")
    if role != "answer" and not points > 0:
        raise ValueError(f"a {role} cell needs points > 0, got {points!r}")
    return {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "points": points,
        "schema_version": SCHEMA_VERSION,
        "solution": solution,
        "task": False,
    }


def cells_by_grade_id(nb: NotebookNode) -> dict[str, NotebookNode]:
    """Every cell that has a grade id, keyed by it (no validation beyond that)."""
    return {gid: cell for cell in nb.cells if (gid := grade_id(cell)) is not None}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _source(cell: NotebookNode) -> str:
    """A cell's source as one string (on disk it may be a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source
