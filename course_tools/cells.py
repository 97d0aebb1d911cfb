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

:func:`validate_source` checks these rules on a whole solution notebook. Everything else in
``course_tools`` builds on this module; it imports none of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
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
    "validate_source",
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


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class _Where:
    """Names a place in a notebook for error messages."""

    notebook: str
    index: int
    cell: NotebookNode

    def __str__(self) -> str:
        label = f"id {self.cell.get('id', '?')!r}"
        if gid := grade_id(self.cell):
            label += f", grade id {gid!r}"
        return f"{self.notebook}, cell {self.index} ({label})"

    def line(self, number: int) -> str:
        return f"{self}, line {number}"


def _cells(nb: NotebookNode, name: str) -> Iterator[tuple[_Where, NotebookNode]]:
    for index, cell in enumerate(nb.cells):
        yield _Where(name, index, cell), cell


def validate_source(nb: NotebookNode, *, name: str = "notebook") -> None:
    """Check the authoring rules of a solution notebook; raise :class:`AuthoringError` if broken.

    Rules: cell ids present and unique; nbgrader metadata complete and consistent with one
    of the three roles; grade ids unique and made of letters, digits, ``_`` and ``-``; test
    and manual cells worth more than 0 points; markers balanced, alone on their line, and
    only where they belong (solution markers in answer cells, hidden-test markers in test
    cells); every answer cell has a solution block.
    """
    seen_ids: dict[str, int] = {}
    seen_grade_ids: dict[str, int] = {}
    for where, cell in _cells(nb, name):
        cell_id = cell.get("id")
        if not cell_id:
            raise AuthoringError(
                f"{where}: the cell has no id. Save the notebook with nbformat 4.5 or newer "
                "(JupyterLab 4 does) so every cell has a stable id."
            )
        if cell_id in seen_ids:
            raise AuthoringError(f"{where}: cell id {cell_id!r} is also used by cell {seen_ids[cell_id]}")
        seen_ids[cell_id] = where.index

        meta = _nbgrader(cell)
        if meta is None:
            _forbid_markers(where, cell, allowed=())
            continue
        _check_metadata(where, cell, meta)
        gid = meta.get("grade_id")
        if gid is None:  # nbgrader's metadata on an ordinary cell
            _forbid_markers(where, cell, allowed=())
            continue
        if gid in seen_grade_ids:
            raise AuthoringError(
                f"{where}: grade id {gid!r} is used twice (also by cell {seen_grade_ids[gid]}); "
                "grade ids must be unique within a notebook"
            )
        seen_grade_ids[gid] = where.index

        role = cell_role(cell)
        if role is None:  # read-only
            _forbid_markers(where, cell, allowed=())
        elif role == "answer":
            _forbid_markers(where, cell, allowed=(BEGIN_SOLUTION, END_SOLUTION))
            _, blocks = _process_blocks(where, _source(cell), BEGIN_SOLUTION, END_SOLUTION, replace=_stub)
            if blocks == 0:
                raise AuthoringError(
                    f"{where}: an answer cell needs at least one {BEGIN_SOLUTION} / {END_SOLUTION} "
                    "block around the code the student writes"
                )
        elif role == "test":
            _forbid_markers(where, cell, allowed=(BEGIN_HIDDEN_TESTS, END_HIDDEN_TESTS))
            _process_blocks(where, _source(cell), BEGIN_HIDDEN_TESTS, END_HIDDEN_TESTS, replace=None)
        else:  # manual
            _forbid_markers(where, cell, allowed=())


def _check_metadata(where: _Where, cell: NotebookNode, meta: dict[str, Any]) -> None:
    # nbgrader's schema 3 requires grade, solution and locked; a grade id only on a cell with one of
    # them set, and points only on a graded cell (nbgrader writes none on answer or read-only cells).
    required = ["grade", "solution", "locked"]
    required += ["grade_id"] if any(meta.get(key) for key in required) else []
    required += ["points"] if meta.get("grade") else []
    missing = [key for key in required if key not in meta]
    if missing:
        raise AuthoringError(f"{where}: nbgrader metadata lacks {', '.join(missing)}")
    if "grade_id" not in meta:
        return  # grade, solution and locked all false: an ordinary cell, whatever else it says
    gid = meta["grade_id"]
    if not isinstance(gid, str) or not _GRADE_ID.fullmatch(gid):
        raise AuthoringError(f"{where}: grade_id {gid!r} must be a non-empty string of letters, digits, '_' and '-'")
    if meta.get("task"):
        raise AuthoringError(f"{where}: nbgrader 'task' cells are not supported; set task to false")
    if meta.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise AuthoringError(f"{where}: schema_version must be {SCHEMA_VERSION}")
    points = meta.get("points", 0)
    if not _is_number(points) or points < 0:
        raise AuthoringError(f"{where}: points must be a number >= 0, got {points!r}")

    role = cell_role(cell)
    if role is None and not meta["grade"] and not meta["solution"]:
        if points:
            raise AuthoringError(f"{where}: a read-only cell (neither grade nor solution) carries no points")
        return  # nbgrader's read-only cell: copied unchanged, locked if it says so
    if role is None:
        raise AuthoringError(
            f"{where}: a {cell.cell_type} cell with grade={meta['grade']!r}, solution={meta['solution']!r} "
            "has no supported role. Use a code answer (solution, not grade), a code test "
            "(grade, not solution, locked) or a markdown written answer (solution and grade)."
        )
    if role == "answer" and points:
        raise AuthoringError(
            f"{where}: an answer cell carries no points ({points!r} given); put the points on its test cells"
        )
    if role in ("test", "manual") and not points > 0:
        raise AuthoringError(f"{where}: a graded {role} cell needs points > 0, got {points!r}")
    if role == "test" and not meta["locked"]:
        raise AuthoringError(f"{where}: a test cell must be locked (set locked to true)")


def _marker_at(line: str) -> str | None:
    """The marker that ``line`` contains, if any (whether or not it is alone on the line)."""
    for marker in MARKERS:
        if marker in line:
            return marker
    return None


def _forbid_markers(where: _Where, cell: NotebookNode, *, allowed: Sequence[str]) -> None:
    for number, line in enumerate(_source(cell).splitlines(), start=1):
        marker = _marker_at(line)
        if marker is None:
            continue
        if marker not in allowed:
            role = cell_role(cell) or "ordinary"
            hint = {
                BEGIN_SOLUTION: "solution markers belong in answer cells",
                END_SOLUTION: "solution markers belong in answer cells",
                BEGIN_HIDDEN_TESTS: "hidden-test markers belong in test cells",
                END_HIDDEN_TESTS: "hidden-test markers belong in test cells",
            }[marker]
            raise AuthoringError(f"{where.line(number)}: {marker!r} in a {role} {cell.cell_type} cell; {hint}")
        if line.strip() != marker:
            raise AuthoringError(f"{where.line(number)}: {marker!r} must be alone on its line, got {line.strip()!r}")


def _stub(indent: str) -> list[str]:
    return [indent + SOLUTION_STUB]


def _process_blocks(
    where: _Where, source: str, begin: str, end: str, *, replace: Callable[[str], list[str]] | None
) -> tuple[str, int]:
    """Replace each ``begin``/``end`` block of ``source``.

    ``replace(indent) -> list[str]`` gives the lines that stand in for a block; ``None``
    keeps the block's content and drops only the marker lines. Returns the new source and
    the number of blocks.
    """
    out: list[str] = []
    open_at: int | None = None
    indent = ""
    blocks = 0
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped == begin:
            if open_at is not None:
                raise AuthoringError(f"{where.line(number)}: {begin!r} inside the block opened on line {open_at}")
            open_at, indent = number, line[: len(line) - len(line.lstrip())]
            if replace is not None:
                out.extend(replace(indent))
        elif stripped == end:
            if open_at is None:
                raise AuthoringError(f"{where.line(number)}: {end!r} without a {begin!r} before it")
            open_at = None
            blocks += 1
        elif open_at is None or replace is None:
            out.append(line)
    if open_at is not None:
        raise AuthoringError(f"{where.line(open_at)}: {begin!r} is never closed by {end!r}")
    return "\n".join(out), blocks


# --------------------------------------------------------------------------- helpers


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _source(cell: NotebookNode) -> str:
    """A cell's source as one string (on disk it may be a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source
