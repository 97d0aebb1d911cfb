"""The points table of an exercise notebook, written from its rubric by ``course-exercises``.

A solution notebook shows its tasks and their points in one markdown cell, between two marker
comments; what stands between them is :meth:`Rubric.points_table
<course_tools.rubrics.Rubric.points_table>`, never typed by hand::

    <!-- points table: generated from rubrics/01_performance_fundamentals.yml by course-exercises -->

    | Task | What | Points |
    ...

    <!-- end of points table -->

``course-exercises`` rewrites the table in the solution (and so in the exercise made from it);
``course-exercises --check`` reports a table that differs from its rubric.

>>> import nbformat
>>> from course_tools.rubrics import parse_rubric
>>> rubric = parse_rubric({"notebook": "00_demo.ipynb", "title": "Demo", "manual": [],
...     "autograded": [{"grade_id": "a", "points": 2, "description": "a works"}],
...     "tasks": [{"task": "(a)", "what": "write a", "grade_ids": ["a"]}]})
>>> intro = nbformat.v4.new_markdown_cell(f"Points:\\n\\n{begin_marker('00_demo.yml')}\\n{END_MARKER}", id="intro")
>>> filled, problems = fill_points_table(nbformat.v4.new_notebook(cells=[intro]), rubric, rubric_file="00_demo.yml")
>>> problems, "| (a) | write a | 2 |" in filled.cells[0].source
([], True)
"""

from __future__ import annotations

import copy
import re

from nbformat import NotebookNode

from course_tools.cells import _source
from course_tools.rubrics import Rubric

__all__ = ["END_MARKER", "begin_marker", "fill_points_table"]

#: The comment after the table.
END_MARKER = "<!-- end of points table -->"
_BEGIN = re.compile(r"<!-- points table: generated from rubrics/(?P<file>\S+) by course-exercises -->")


def begin_marker(rubric_file: str) -> str:
    """The comment before the table: ``begin_marker("01_x.yml")`` names ``rubrics/01_x.yml``."""
    return f"<!-- points table: generated from rubrics/{rubric_file} by course-exercises -->"


def fill_points_table(
    nb: NotebookNode, rubric: Rubric, *, rubric_file: str, name: str = "notebook"
) -> tuple[NotebookNode, list[str]]:
    """``nb`` with its points table written from ``rubric``, and the problems found.

    Returns ``nb`` itself when nothing changes, else a changed copy. Problems (each naming
    ``name``): a rubric with tasks but no table in the notebook, or the other way round; more
    than one table; a table that names another rubric file; a begin marker without the end one.
    """
    holders = [
        (index, source, begin)
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "markdown" and (begin := _BEGIN.search(source := _source(cell)))
    ]
    if not holders:
        if rubric.tasks:
            return nb, [
                f"{name}: rubrics/{rubric_file} lists tasks but no markdown cell has a points table; put "
                f"{begin_marker(rubric_file)!r} and {END_MARKER!r} on lines of their own where it belongs"
            ]
        return nb, []
    if not rubric.tasks:
        return nb, [f"{name} has a points table but rubrics/{rubric_file} lists no tasks; add a tasks section"]
    if len(holders) > 1:
        ids = ", ".join(repr(nb.cells[index].get("id")) for index, _, _ in holders)
        return nb, [f"{name}: cells {ids} each have a points table; keep one"]
    index, source, begin = holders[0]
    if begin["file"] != rubric_file:
        return nb, [f"{name}: the points table says rubrics/{begin['file']}, but the rubric is rubrics/{rubric_file}"]
    end = source.find(END_MARKER, begin.end())
    if end < 0:
        return nb, [f"{name}: the points table has no {END_MARKER!r} after {begin[0]!r}"]
    new_source = f"{source[: begin.end()]}\n\n{rubric.points_table()}\n\n{source[end:]}"
    if new_source == source:
        return nb, []
    filled = copy.deepcopy(nb)
    filled.cells[index].source = new_source
    return filled, []
