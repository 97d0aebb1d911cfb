"""Exercise authoring: one solution notebook in, a student notebook and a grading template out.

``solutions/NN_name.ipynb`` is the single source of truth for an exercise; its cells follow the
format of :mod:`course_tools.cells` (nbgrader's metadata and markers).

>>> import nbformat
>>> from course_tools.cells import metadata_for
>>> answer = nbformat.v4.new_code_cell(
...     "def double(x):\\n    ### BEGIN SOLUTION\\n    return 2 * x\\n    ### END SOLUTION",
...     id="double", metadata={"nbgrader": metadata_for("answer", "double")})
>>> nb = nbformat.v4.new_notebook(cells=[answer])
>>> print(make_student_version(nb).cells[0].source)
def double(x):
    raise NotImplementedError("Not solved yet: replace this line with your code.")

The console script ``course-exercises`` (or ``python -m course_tools.authoring``) regenerates
``exercises/`` and ``rubrics/*.md`` from ``solutions/`` and ``rubrics/*.yml``; with
``--check`` it only reports what is out of date.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbformat import NotebookNode

from course_tools.cells import (
    _GRADE_ID,
    BEGIN_HIDDEN_TESTS,
    BEGIN_SOLUTION,
    END_HIDDEN_TESTS,
    END_SOLUTION,
    HIDDEN_TESTS_PLACEHOLDER,
    MANUAL_PLACEHOLDER,
    MARKERS,
    SCHEMA_VERSION,
    SOLUTION_STUB,
    AuthoringError,
    _is_number,
    _nbgrader,
    _source,
    cell_role,
    grade_id,
)
from course_tools.notebook_files import (
    _write_if_changed,
    notebook_to_text,
    read_notebook,
)
from course_tools.rubrics import RubricError, check_rubric_matches, load_rubric

__all__ = [
    "validate_source",
    "make_student_version",
    "make_grading_template",
    "derived_files",
    "main",
]


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
        gid = meta["grade_id"]
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
    missing = [key for key in ("grade_id", "grade", "solution", "locked", "points") if key not in meta]
    if missing:
        raise AuthoringError(f"{where}: nbgrader metadata lacks {', '.join(missing)}")
    gid = meta["grade_id"]
    if not isinstance(gid, str) or not _GRADE_ID.fullmatch(gid):
        raise AuthoringError(f"{where}: grade_id {gid!r} must be a non-empty string of letters, digits, '_' and '-'")
    if meta.get("task"):
        raise AuthoringError(f"{where}: nbgrader 'task' cells are not supported; set task to false")
    if meta.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise AuthoringError(f"{where}: schema_version must be {SCHEMA_VERSION}")
    points = meta["points"]
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


# --------------------------------------------------------------------------- transformations


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


def _is_comment_or_blank(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _strip_trailing_blank_lines(source: str) -> str:
    return "\n".join(source.splitlines()).rstrip()


def _convert(nb: NotebookNode, *, name: str, keep_hidden_tests: bool) -> NotebookNode:
    validate_source(nb, name=name)
    out = copy.deepcopy(nb)
    for where, cell in _cells(out, name):
        role = cell_role(cell)
        if role == "answer":
            cell.source, _ = _process_blocks(where, _source(cell), BEGIN_SOLUTION, END_SOLUTION, replace=_stub)
        elif role == "test":
            if keep_hidden_tests:
                source, _ = _process_blocks(where, _source(cell), BEGIN_HIDDEN_TESTS, END_HIDDEN_TESTS, replace=None)
            else:
                source, blocks = _process_blocks(
                    where, _source(cell), BEGIN_HIDDEN_TESTS, END_HIDDEN_TESTS, replace=lambda _indent: []
                )
                if blocks and all(_is_comment_or_blank(line) for line in source.splitlines()):
                    source = HIDDEN_TESTS_PLACEHOLDER
            cell.source = _strip_trailing_blank_lines(source)
        elif role == "manual":
            cell.source = MANUAL_PLACEHOLDER
        if (_nbgrader(cell) or {}).get("locked"):
            # JupyterLab and Notebook honour these: the student cannot edit or delete the cell.
            cell.metadata["editable"] = False
            cell.metadata["deletable"] = False
        cell.metadata.pop("execution", None)  # run timings written by JupyterLab
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return out


def make_student_version(nb: NotebookNode, *, name: str = "notebook") -> NotebookNode:
    """The student notebook for the solution notebook ``nb`` (which is not modified).

    Solution blocks become a ``raise NotImplementedError(...)`` stub at the block's
    indentation; hidden tests are removed (a test cell left with nothing but comments gets
    :data:`HIDDEN_TESTS_PLACEHOLDER`, so its grade id stays in the notebook); written
    answers become :data:`MANUAL_PLACEHOLDER`; outputs and execution counts are cleared.
    Cell ids and metadata are kept; locked cells are also marked not editable/deletable.
    ``name`` is used in error messages. Raises :class:`AuthoringError` if ``nb`` breaks a
    rule of :func:`validate_source`.
    """
    return _convert(nb, name=name, keep_hidden_tests=False)


def make_grading_template(nb: NotebookNode, *, name: str = "notebook") -> NotebookNode:
    """What the grader needs: the student version with the hidden tests kept in test cells.

    Solution code is still stubbed and written answers emptied; only the marker lines of
    hidden-test blocks are dropped. The grader copies the test cells from it into a
    submission (matching them by grade id); it never needs the solutions.
    """
    return _convert(nb, name=name, keep_hidden_tests=True)


# --------------------------------------------------------------------------- command line

_NOTEBOOK_NAME = re.compile(r"\d\d_[A-Za-z0-9_]+\.ipynb")


@dataclass(frozen=True)
class _Derived:
    """One file generated from a source file."""

    source: Path
    target: Path
    text: str


def derived_files(root: Path) -> tuple[list[_Derived], list[str]]:
    """Everything generated from ``root/solutions`` and ``root/rubrics``, and the problems found.

    Problems are rubric errors and mismatches, missing rubrics, and files whose source is
    gone (a renamed or deleted exercise); authoring errors in a solution notebook are raised
    as :class:`AuthoringError`.
    """
    derived: list[_Derived] = []
    problems: list[str] = []
    solutions = sorted(p for p in (root / "solutions").glob("*.ipynb") if _NOTEBOOK_NAME.fullmatch(p.name))
    for solution in solutions:
        nb = read_notebook(solution)
        name = f"solutions/{solution.name}"
        student = make_student_version(nb, name=name)
        derived.append(_Derived(solution, root / "exercises" / solution.name, notebook_to_text(student)))

        rubric_path = root / "rubrics" / (solution.stem + ".yml")
        if not rubric_path.exists():
            problems.append(f"{name}: no rubric; write rubrics/{rubric_path.name}")
            continue
        try:
            rubric = load_rubric(rubric_path)
        except RubricError as err:
            problems.append(f"rubrics/{err}")
            continue
        if rubric.notebook != solution.name:
            problems.append(f"rubrics/{rubric_path.name}: notebook is {rubric.notebook!r}, expected {solution.name!r}")
        problems.extend(f"rubrics/{rubric_path.name}: {p}" for p in check_rubric_matches(rubric, nb))
        derived.append(_Derived(rubric_path, rubric_path.with_suffix(".md"), rubric.to_markdown()))

    # Files left behind by a renamed or deleted exercise: (folder, suffix, where its source lives)
    for folder, suffix, source in (
        ("exercises", ".ipynb", "solutions/{stem}.ipynb"),
        ("rubrics", ".yml", "solutions/{stem}.ipynb"),
        ("rubrics", ".md", "rubrics/{stem}.yml"),
    ):
        for path in sorted((root / folder).glob(f"*{suffix}")):
            expected_source = source.format(stem=path.stem)
            if _NOTEBOOK_NAME.fullmatch(path.stem + ".ipynb") and not (root / expected_source).exists():
                problems.append(f"{folder}/{path.name} has no {expected_source}; delete it or restore the source")
    return derived, problems


def _find_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / "solutions").is_dir():
            return folder
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """``course-exercises [--root DIR] [--check]``: regenerate (or check) exercises and rubrics."""
    parser = argparse.ArgumentParser(
        prog="course-exercises",
        description="Generate exercises/NN_*.ipynb from solutions/NN_*.ipynb and rubrics/NN_*.md "
        "from rubrics/NN_*.yml, and check that each rubric matches its notebook.",
    )
    parser.add_argument(
        "--root",
        type=Path,
        help="the course repository (default: the nearest folder upwards from here that has a solutions/ folder)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if any generated file is out of date or a rubric does not match",
    )
    args = parser.parse_args(argv)

    root = args.root or _find_root(Path.cwd())
    if root is None or not (root / "solutions").is_dir():
        parser.error("no solutions/ folder found; run this in the course repository or pass --root")
    try:
        derived, problems = derived_files(root)
    except AuthoringError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1

    stale: list[str] = []
    for item in derived:
        relative = item.target.relative_to(root).as_posix()
        if args.check:
            if not item.target.exists() or item.target.read_bytes() != item.text.encode("utf-8"):
                stale.append(f"{relative} is out of date with {item.source.relative_to(root).as_posix()}")
        elif _write_if_changed(item.target, item.text):
            print(f"wrote {relative}")
        else:
            print(f"unchanged {relative}")

    for line in stale + problems:
        print(f"error: {line}", file=sys.stderr)
    if stale:
        print("Run `course-exercises` (or `make exercises`) to regenerate.", file=sys.stderr)
    return 1 if stale or problems else 0


if __name__ == "__main__":
    sys.exit(main())
