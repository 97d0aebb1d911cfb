"""Forbidden shortcuts, found in the student's source, by the grader, outside the kernel.

A check's in-kernel spy (``must_not_call``) sees a forbidden function called; but a student's
code can take the function before the spy is installed, or replace the spy. Here the grader
reads the code the student wrote above the check (every code cell that is not the exercise's
own, unchanged) and resolves what each name refers to through the imports: ``np.percentile`` after
``import numpy as np``, ``p`` after ``from numpy import percentile as p``, ``getattr(np,
"percentile")``, ``importlib.import_module("numpy").percentile``. A name built at run time from
pieces of strings is beyond a static reading; the in-kernel spy remains for those.

>>> forbidden_uses(["import numpy as np\\ndef f(x):\\n    return np.percentile(x, 50)"], ["numpy.percentile"])
['numpy.percentile']
>>> forbidden_uses(["from numpy import quantile as q", "y = q"], ["numpy.quantile"])
['numpy.quantile']
>>> forbidden_uses(["import numpy as np\\nnp.sort([3, 1])"], ["numpy.percentile"])
[]
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence

import nbformat

from course_tools.cells import cell_role, grade_id


def written_before_checks(graded: nbformat.NotebookNode, template: nbformat.NotebookNode) -> dict[str, list[str]]:
    """For each test cell (by grade id), the code the student wrote above it: every code cell that is
    not a test cell and not one of the template's, unchanged. Code below a check cannot change what
    the check saw, so a shortcut used only there (task (d) calling numpy.percentile) costs nothing
    in task (a)."""
    canonical = {grade_id(cell) or cell.get("id"): cell.source for cell in template.cells if cell.cell_type == "code"}
    written: list[str] = []
    before: dict[str, list[str]] = {}
    for cell in graded.cells:
        if cell.cell_type != "code":
            continue
        if cell_role(cell) == "test":
            before[grade_id(cell)] = list(written)
        elif canonical.get(grade_id(cell) or cell.get("id")) != cell.source:
            written.append(cell.source)
    return before


def forbidden_uses(sources: Iterable[str], forbidden: Sequence[str], context: Iterable[str] = ()) -> list[str]:
    """The names in ``forbidden`` (dotted) that ``sources`` refer to, in the order of ``forbidden``.

    ``context`` is the rest of the notebook's code: its imports name things too (an exercise's setup
    cell that imports ``alerts``), but only ``sources`` are searched for uses.

    >>> forbidden_uses(["f = alerts.multiwindow"], ["course_lib.alerts.multiwindow"], ["from course_lib import alerts"])
    ['course_lib.alerts.multiwindow']
    """
    aliases: dict[str, str] = {}
    for tree in _trees(context):
        _collect_imports(tree, aliases)
    used: set[str] = set()
    for tree in _trees(sources):
        _collect_imports(tree, aliases)
        for node in ast.walk(tree):
            dotted = _resolve(node, aliases)
            if dotted:
                used.add(dotted)
            if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names) and node.module:
                used.add(node.module + ".*")
    found = []
    for name in forbidden:
        module = name.rsplit(".", 1)[0]
        if any(u == name or u.startswith(name + ".") or u == module + ".*" for u in used):
            found.append(name)
    return found


def _trees(sources: Iterable[str]) -> Iterable[ast.AST]:
    for source in sources:
        try:
            yield ast.parse(_without_magics(source))
        except SyntaxError:
            continue  # such a cell fails when it runs; nothing to resolve


def _without_magics(source: str) -> str:
    """IPython's ``%magic`` and ``!shell`` lines are not Python: blank them (line numbers kept)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _collect_imports(tree: ast.AST, aliases: dict[str, str]) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if alias.name != "*":
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"


def _resolve(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """The dotted name an expression stands for, when its root is an imported name."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, aliases)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[-1], ast.Constant):
        func, last = node.func, node.args[-1].value
        if not isinstance(last, str):
            return None
        if isinstance(func, ast.Name) and func.id == "getattr" and len(node.args) >= 2:
            base = _resolve(node.args[0], aliases)
            return f"{base}.{last}" if base else None
        name = func.id if isinstance(func, ast.Name) else _resolve(func, aliases)
        if name in ("__import__", "importlib.import_module") and len(node.args) == 1:
            return last
    return None
