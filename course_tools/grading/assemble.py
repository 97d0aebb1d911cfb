"""Put the canonical test cells back into a student's submission.

Whatever the student did to a test cell (deleted, edited, moved, duplicated, tagged it
``NBVAL_SKIP``), the notebook that is graded carries exactly one copy of each canonical test
cell, with the canonical source and metadata, in its canonical place: right after the cell
that precedes it in the template (the student's version of that cell, found by grade id or
cell id) and after any cells the student added there. Everything else the student wrote stays
as it is, in the student's order.
"""

from __future__ import annotations

import copy

import nbformat

from course_tools.cells import cell_role, grade_id


def _key(cell) -> str | None:
    """How a cell is recognised across versions: its grade id, else its cell id."""
    return grade_id(cell) or cell.get("id")


def _is_test(cell, test_keys: set[str], test_ids: set[str]) -> bool:
    return grade_id(cell) in test_keys or cell.get("id") in test_ids


def assemble(submission: nbformat.NotebookNode, template: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A new notebook: the submission's own cells plus the template's test cells, restored.

    ``template`` is the grading template (student version with hidden tests kept); the
    submission is not modified.
    """
    tests = [cell for cell in template.cells if cell_role(cell) == "test"]
    test_keys = {grade_id(cell) for cell in tests}
    test_ids = {cell.get("id") for cell in tests if cell.get("id")}
    template_keys = {_key(cell) for cell in template.cells}

    cells = [copy.deepcopy(cell) for cell in submission.cells if not _is_test(cell, test_keys, test_ids)]
    for cell in cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    restored: set[int] = set()  # positions in `cells` that hold restored test cells

    for position, test in enumerate(template.cells):
        if cell_role(test) != "test":
            continue
        insert_at = _anchor_position(cells, template.cells[:position], test_keys)
        # after what the student added below the anchor, and after tests restored there already
        while insert_at < len(cells) and (
            id(cells[insert_at]) in restored or _key(cells[insert_at]) not in template_keys
        ):
            insert_at += 1
        fresh = copy.deepcopy(test)
        cells.insert(insert_at, fresh)
        restored.add(id(fresh))

    graded = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(template.metadata))
    graded.nbformat, graded.nbformat_minor = template.nbformat, template.nbformat_minor
    return graded


def _anchor_position(cells: list, earlier_template_cells: list, test_keys: set[str]) -> int:
    """Index just after the student's version of the nearest earlier non-test template cell."""
    positions = {}
    for index, cell in enumerate(cells):
        positions.setdefault(_key(cell), index)
    for cell in reversed(earlier_template_cells):
        if grade_id(cell) in test_keys:
            continue
        if _key(cell) in positions:
            return positions[_key(cell)] + 1
    return 0
