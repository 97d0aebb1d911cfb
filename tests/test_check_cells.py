"""Test cells use only course code and the student's answers, never a helper of the notebook.

The grader restores a submission's locked test cells (by grade id) and nothing else: every
other cell is whatever the student left in it. A test cell that calls a helper, reads data or
relies on an import from another cell runs whatever the student made of that cell. So the rule,
kept simple and strict, is that a test cell (its visible part and its hidden tests) uses only

- names it binds itself: its own imports (from ``course_lib`` and elsewhere), definitions,
  assignments and loop variables;
- the names the answer cells bind (the student's answers: functions, classes, variables;
  not what an answer cell imports).

Names bound by any other cell are refused, editable or locked: a read-only cell runs only if
the student runs it, and in the order the student runs it. So are names bound by another test
cell (the student's cells run in between) and names bound nowhere. Both the whole cell, as it is
graded, and its visible part alone, as the student's notebook holds it, must keep the rule.

Exceptions, allowed everywhere (no notebook needs one of its own; :data:`ALLOWED` would list it):

- Python's builtins (``len``, ``print``, ``globals``...): every cell reads them, and a test
  cell cannot re-import them in any useful way;
- ``get_ipython``, which IPython gives every kernel and which the transformed magics call.

What the scanner reads: the cell's code with IPython's magics made Python
(``TransformerManager().transform_cell``), every scope of it (functions, lambdas, classes,
comprehensions), the code of ``%time``/``%timeit``/``%prun`` lines and of
``%%time``/``%%timeit``/``%%capture``/``%%prun`` cells, and the names a cell looks up as
``globals()["name"]`` or ``globals().get("name")``. What it cannot see is code hidden in other
strings (``eval``, ``exec``), which no test cell uses.
"""

from __future__ import annotations

import ast
import builtins
import symtable
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_tools.authoring import make_student_version
from course_tools.cells import _source, cell_role, grade_id, metadata_for
from course_tools.notebook_files import read_notebook

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))

#: Names every test cell may use although it does not bind them (see the module docstring).
ALWAYS_ALLOWED = frozenset(dir(builtins)) | {"get_ipython"}

#: Exceptions for one test cell: ``{(notebook stem, grade id): {name: reason}}``. Empty: every
#: test cell of the course keeps the rule without one. An entry needs a reason a reviewer accepts.
ALLOWED: dict[tuple[str, str], dict[str, str]] = {}

_CELL_MAGICS_OF_PYTHON = {"time", "timeit", "capture", "prun"}
_LINE_MAGICS_OF_PYTHON = {"time", "timeit", "prun"}


# --------------------------------------------------------------------------- the scanner


@dataclass(frozen=True)
class CellNames:
    """The module-level names a cell binds (``imported`` among them) and the global names it uses."""

    bound: frozenset[str]
    imported: frozenset[str]
    used: frozenset[str]


def cell_names(source: str) -> CellNames:
    """What ``source`` (a cell, magics allowed) binds at module level and which global names it reads."""
    code = TransformerManager().transform_cell(source)
    bound, imported, used = set(), set(), set()

    def walk(table: symtable.SymbolTable) -> None:
        for symbol in table.get_symbols():
            name = symbol.get_name()
            if table.get_type() == "module":
                bound.update([name] if symbol.is_assigned() or symbol.is_imported() else [])
                imported.update([name] if symbol.is_imported() else [])
                used.update([name] if symbol.is_referenced() else [])
            elif symbol.is_global():  # a name a function, lambda, class or comprehension looks up globally
                used.update([name] if symbol.is_referenced() else [])
                bound.update([name] if symbol.is_declared_global() and symbol.is_assigned() else [])
        for child in table.get_children():
            walk(child)

    walk(symtable.symtable(code, "<cell>", "exec"))
    for inner in _code_in_strings(ast.parse(code)):  # magics' code, globals()["name"]
        names = cell_names(inner) if not inner.isidentifier() else CellNames(frozenset(), frozenset(), {inner})
        bound |= names.bound
        imported |= names.imported
        used |= names.used
    return CellNames(frozenset(bound), frozenset(imported), frozenset(used))


def _code_in_strings(tree: ast.AST) -> list[str]:
    """Python the transformed cell holds in strings: magics that run code, and globals() lookups."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and _is_globals_call(node.value) and _text(node.slice):
            found.append(_text(node.slice))
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        args = [_text(arg) for arg in node.args]
        if node.func.attr == "get" and _is_globals_call(node.func.value) and args and args[0]:
            found.append(args[0])
        elif node.func.attr == "run_cell_magic" and len(args) == 3 and args[0] in _CELL_MAGICS_OF_PYTHON:
            found.append(args[2] or "")
        elif node.func.attr == "run_line_magic" and len(args) == 2 and args[0] in _LINE_MAGICS_OF_PYTHON:
            found.append(_without_options(args[1] or ""))
    return found


def _is_globals_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "globals"


def _text(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _without_options(line: str) -> str:
    """The code of a magic line such as ``-n 10 -r 3 f(x)``: drop leading words until the rest parses."""
    words = line.split(" ")
    for start in range(len(words)):
        code = " ".join(words[start:])
        try:
            ast.parse(code)
        except SyntaxError:
            continue
        return code
    return ""


def answer_names(nb: nbformat.NotebookNode) -> frozenset[str]:
    """The names the answer cells bind, without their imports: the student's answers."""
    names: set[str] = set()
    for cell in nb.cells:
        if cell_role(cell) == "answer":
            found = cell_names(_source(cell))
            names |= found.bound - found.imported
    return frozenset(names)


def _binders(nb: nbformat.NotebookNode, name: str, but: nbformat.NotebookNode) -> str:
    """Where ``name`` is bound in ``nb`` (other than in ``but``), in words."""
    places = []
    for cell in nb.cells:
        if cell is but or cell.cell_type != "code" or name not in cell_names(_source(cell)).bound:
            continue
        role, locked = cell_role(cell), (cell.metadata.get("nbgrader") or {}).get("locked")
        kind = {"test": "test", "answer": "answer (as an import)"}.get(role or "", "locked" if locked else "editable")
        places.append(f"{kind} cell {grade_id(cell) or cell.get('id')!r}")
    return ", ".join(places) or "no cell"


def problems(nb: nbformat.NotebookNode, notebook: str) -> list[str]:
    """One message per test cell (or visible part of one) that uses a name it may not."""
    answers = answer_names(nb)
    student = {grade_id(cell): cell for cell in make_student_version(nb, name=notebook).cells if grade_id(cell)}
    found = []
    for cell in nb.cells:
        if cell_role(cell) != "test":
            continue
        gid = grade_id(cell)
        allowed = ALWAYS_ALLOWED | answers | ALLOWED.get((Path(notebook).stem, gid or ""), {}).keys()
        for part, source in (("test cell", _source(cell)), ("visible part of test cell", _source(student[gid]))):
            names = cell_names(source)
            outside = sorted(names.used - names.bound - allowed)
            if outside:
                where = "; ".join(f"{name!r} (bound in {_binders(nb, name, cell)})" for name in outside)
                found.append(
                    f"{notebook}: {part} {gid!r} uses {', '.join(outside)}, which it neither binds nor gets from "
                    f"an answer cell: {where}. Import or define each in the test cell itself (course code lives in "
                    "course_lib): a test cell uses only its own names and the answers'."
                )
                break  # the visible part repeats what the whole cell says
    return found


# --------------------------------------------------------------------------- the course's notebooks


def test_there_are_solutions() -> None:
    assert len(SOLUTIONS) >= 5


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_test_cells_use_only_their_own_names_and_the_answers(solution: Path) -> None:
    found = problems(read_notebook(solution), f"solutions/{solution.name}")
    assert not found, "\n".join(found)


def test_the_exceptions_name_real_test_cells() -> None:
    cells = {(p.stem, grade_id(c)) for p in SOLUTIONS for c in read_notebook(p).cells if cell_role(c) == "test"}
    assert set(ALLOWED) <= cells
    assert all(reason.strip() for names in ALLOWED.values() for reason in names.values())


# --------------------------------------------------------------------------- the scanner itself


def _notebook(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return new_notebook(cells=list(cells))


def _answer(source: str, gid: str = "double_answer") -> nbformat.NotebookNode:
    return new_code_cell(source, id=gid, metadata={"nbgrader": metadata_for("answer", gid)})


def _test(source: str, gid: str = "double_visible") -> nbformat.NotebookNode:
    return new_code_cell(source, id=gid, metadata={"nbgrader": metadata_for("test", gid, 1)})


ANSWER = _answer("import math\n\n\ndef double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION")


def test_a_helper_in_an_editable_cell_is_caught() -> None:
    helper = new_code_cell("def check_double(f):\n    assert f(2) == 4", id="helpers")
    nb = _notebook(new_markdown_cell("# Demo", id="title"), ANSWER, helper, _test("check_double(double)"))
    found = problems(nb, "solutions/99_demo.ipynb")
    assert len(found) == 1
    message = found[0]
    assert "solutions/99_demo.ipynb" in message and "'double_visible'" in message
    assert "uses check_double," in message and "editable cell 'helpers'" in message


def test_hidden_tests_are_scanned_and_the_visible_part_on_its_own() -> None:
    hidden = "from course_lib.checks import check_equal\n### BEGIN HIDDEN TESTS\nhelper = 1\n### END HIDDEN TESTS\n"
    nb = _notebook(ANSWER, _test(hidden + "check_equal(double(helper), 2, what='d')"))
    (message,) = problems(nb, "nb")
    assert "visible part of test cell 'double_visible' uses helper" in message
    uses_a_notebook_name = "### BEGIN HIDDEN TESTS\nassert math.isclose(double(0.5), 1)\n### END HIDDEN TESTS"
    (message,) = problems(_notebook(ANSWER, _test(uses_a_notebook_name)), "nb")
    assert "test cell 'double_visible' uses math" in message and "answer (as an import) cell 'double_answer'" in message


def test_names_of_locked_cells_and_other_test_cells_are_refused() -> None:
    read_only = {"grade_id": "data", "grade": False, "solution": False, "locked": True, "points": 0}
    locked = new_code_cell("DATA = [1, 2]", id="data", metadata={"nbgrader": read_only})
    first = _test("_cases = [(1,), (2,)]", "first")
    nb = _notebook(ANSWER, locked, first, _test("for x in DATA + [c[0] for c in _cases]:\n    double(x)", "second"))
    (message,) = problems(nb, "nb")
    assert "uses DATA, _cases" in message
    assert "'DATA' (bound in locked cell 'data')" in message and "'_cases' (bound in test cell 'first')" in message


def test_a_cell_that_binds_and_imports_what_it_uses_passes() -> None:
    source = """
import numpy as np
from course_lib.checks import check_true as ok

%time _ = double(3)
_cases = [(x,) for x in range(3)]
with np.errstate(all="ignore") as _state:
    pass
try:
    double(None)
except TypeError as error:
    _error = error


class _Spy:
    calls = 0

    def __call__(self, x):
        self.calls += 1
        return double(x)


def _twice(x):
    global _last
    _last = x
    return (lambda y: double(double(y)))(x)


ok(all((n := _twice(c[0])) == 4 * c[0] for c in _cases) and _Spy()(1) == 2 and _last == 2, "doubles")
ok(globals().get("double") is double, "found by name")
"""
    assert problems(_notebook(ANSWER, _test(source)), "nb") == []


def test_names_hidden_in_magics_and_globals_lookups_are_seen() -> None:
    names = cell_names('%timeit -n 3 -r 2 helper(1)\n%time other(2)\nx = globals()["third"]')
    assert {"helper", "other", "third"} <= names.used
    assert {"helper"} <= cell_names("%%time\nhelper(1)\n").used
    assert {"helper"} <= cell_names("%%capture out\nhelper(1)\n").used
    assert "helper" not in cell_names("%%bash\nhelper 1\n").used  # not Python: nothing to read
