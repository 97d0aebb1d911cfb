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
``exercises/`` and ``rubrics/*.md`` from ``solutions/`` and ``rubrics/*.yml``, and writes each
solution's points table from its rubric; with ``--check`` it only reports what is out of date.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nbformat import NotebookNode

from course_tools.cells import (
    BEGIN_HIDDEN_TESTS,
    BEGIN_SOLUTION,
    END_HIDDEN_TESTS,
    END_SOLUTION,
    HIDDEN_TESTS_PLACEHOLDER,
    MANUAL_PLACEHOLDER,
    AuthoringError,
    _cells,
    _nbgrader,
    _process_blocks,
    _source,
    _stub,
    cell_role,
    validate_source,
)
from course_tools.notebook_files import (
    _write_if_changed,
    notebook_to_text,
    read_notebook,
)
from course_tools.points_table import fill_points_table
from course_tools.rubrics import Rubric, RubricError, check_rubric_matches, load_rubric

__all__ = [
    "validate_source",
    "make_student_version",
    "make_grading_template",
    "derived_files",
    "main",
]


# --------------------------------------------------------------------------- transformations


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
    part: str = ""  #: what of the target is generated, if not all of it ("the points table of ")


def derived_files(root: Path) -> tuple[list[_Derived], list[str]]:
    """Everything generated from ``root/solutions`` and ``root/rubrics``, and the problems found.

    The solution itself is among them when its points table differs from its rubric
    (:mod:`course_tools.points_table`); the exercise is made from the solution with the table
    written. Problems are rubric errors and mismatches, missing rubrics, a points table
    without tasks in the rubric (or the other way round), and files whose source is gone (a
    renamed or deleted exercise); authoring errors in a solution notebook are raised as
    :class:`AuthoringError`.
    """
    derived: list[_Derived] = []
    problems: list[str] = []
    solutions = sorted(p for p in (root / "solutions").glob("*.ipynb") if _NOTEBOOK_NAME.fullmatch(p.name))
    for solution in solutions:
        nb = read_notebook(solution)
        name = f"solutions/{solution.name}"
        rubric_path = root / "rubrics" / (solution.stem + ".yml")
        rubric = _rubric_for(rubric_path, nb, name, problems)
        if rubric is not None:
            filled, table_problems = fill_points_table(nb, rubric, rubric_file=rubric_path.name, name=name)
            problems.extend(table_problems)
            if filled is not nb:  # the solution's points table is written from the rubric
                derived.append(_Derived(rubric_path, solution, notebook_to_text(filled), "the points table of "))
                nb = filled
        student = make_student_version(nb, name=name)
        derived.append(_Derived(solution, root / "exercises" / solution.name, notebook_to_text(student)))
        if rubric is not None:
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


def _rubric_for(path: Path, nb: NotebookNode, name: str, problems: list[str]) -> Rubric | None:
    """The rubric at ``path`` for the solution ``nb``; what is wrong with it goes to ``problems``."""
    if not path.exists():
        problems.append(f"{name}: no rubric; write rubrics/{path.name}")
        return None
    try:
        rubric = load_rubric(path)
    except RubricError as err:
        problems.append(f"rubrics/{err}")
        return None
    if rubric.notebook != Path(name).name:
        problems.append(f"rubrics/{path.name}: notebook is {rubric.notebook!r}, expected {Path(name).name!r}")
    problems.extend(f"rubrics/{path.name}: {p}" for p in check_rubric_matches(rubric, nb))
    return rubric


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
        "from rubrics/NN_*.yml, write each solution's points table from its rubric, and check that "
        "each rubric matches its notebook.",
    )
    parser.add_argument(
        "--root",
        type=Path,
        help="the course repository (default: the nearest folder upwards from here that has a solutions/ folder)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if any generated file or points table is out of date or a rubric does not match",
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
                stale.append(f"{item.part}{relative} is out of date with {item.source.relative_to(root).as_posix()}")
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
