"""Rubrics: the points of every graded cell of an exercise, and the criteria for written answers.

A rubric lives in ``rubrics/NN_name.yml`` next to the solution notebook
``solutions/NN_name.ipynb``. Its schema::

    notebook: 01_performance_fundamentals.ipynb   # file name in solutions/ and exercises/
    title: Performance fundamentals               # shown at the top of the rendered rubric
    total: 20                                     # optional; if given, must equal the sum
    autograded:                                   # one entry per test cell (may be empty)
      - grade_id: percentile_visible              # the cell's nbgrader grade_id
        points: 2                                 # a positive number, equal to the cell's
        description: percentile matches numpy on the visible cases
        check: in-process                         # optional: see "Trusted checks" below
        forbidden: [numpy.percentile]             # optional: names the answers must not use
    manual:                                       # one entry per written answer (may be empty)
      - grade_id: slo_answer
        points: 4
        criterion: What the written answer is judged on.
        levels:                                   # must include 0 and the full points;
          - {points: 4, descriptor: What a full answer does.}
          - {points: 0, descriptor: Missing or off topic.}
    tasks:                                        # optional: the notebook's points table
      - task: (a)                                 # how the notebook names the task
        what: a percentile function               # one line, markdown allowed
        grade_ids: [percentile_visible, percentile_hidden]

Every key is required except ``total``, ``tasks``, ``check`` and ``forbidden``; unknown keys
are errors (they are usually typos). If ``tasks`` is given, every graded cell belongs to exactly
one task, and a task is worth the points of its cells.

Trusted checks. A test cell that hands its values to ``probe(...)``
(:mod:`course_lib.checks.probe`) is decided outside the student's kernel: the grader compares
those values with the reference solution's. A test cell that must observe behaviour inside the
kernel (statements per request, cache calls, memory growth) cannot be; its entry says
``check: in-process``, and its points are best-effort: a student's code that changes the checks
themselves can earn them. :func:`check_probes` enforces that the two agree with the notebook.
``forbidden`` lists dotted names (``numpy.percentile``) that the student's answer cells must
not use; the grader looks for them in the source (:mod:`course_tools.grading.forbidden`), outside
the kernel, as well as the in-kernel spy of the check itself.

:func:`check_rubric_matches` compares a rubric with
the nbgrader metadata of its notebook, and :func:`rubric_for` is what grading uses: the YAML
rubric checked against its notebook, or, for an exercise without one (an nbgrader notebook as
nbgrader wrote it), a rubric read from the notebook's metadata. :meth:`Rubric.to_markdown` renders the table that
``course-exercises`` writes to ``rubrics/NN_name.md``, and :meth:`Rubric.points_table` the
table it writes into the notebook (:mod:`course_tools.points_table`).

>>> rubric = parse_rubric({"notebook": "00_demo.ipynb", "title": "Demo",
...     "autograded": [{"grade_id": "a", "points": 2, "description": "a works"}], "manual": []})
>>> rubric.autograded_points, rubric.total
({'a': 2.0}, 2.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from nbformat import NotebookNode

from course_tools.cells import cell_points, cell_role, grade_id

__all__ = [
    "RubricError",
    "AutogradedItem",
    "Level",
    "ManualItem",
    "Task",
    "Rubric",
    "load_rubric",
    "parse_rubric",
    "check_rubric_matches",
    "rubric_from_notebook",
    "rubric_for",
]


class RubricError(ValueError):
    """A rubric file is malformed; the message names the file, the entry and the problem."""


@dataclass(frozen=True)
class AutogradedItem:
    """Points for one autograded test cell."""

    grade_id: str
    points: float
    description: str
    in_process: bool = False  # ``check: in-process``: decided in the student's kernel, best-effort
    forbidden: tuple[str, ...] = ()  # dotted names the answers must not use


@dataclass(frozen=True)
class Level:
    """One level of a manual criterion: the points it earns and what an answer at it looks like."""

    points: float
    descriptor: str


@dataclass(frozen=True)
class ManualItem:
    """A written answer, judged on ``criterion`` at one of ``levels`` (highest first).

    A rubric read from a notebook's nbgrader metadata (:func:`rubric_from_notebook`) has no levels:
    any points from 0 to ``points`` may be given.
    """

    grade_id: str
    points: float
    criterion: str
    levels: tuple[Level, ...]


@dataclass(frozen=True)
class Task:
    """A task of the notebook's points table: its name, what it asks, and its graded cells."""

    task: str
    what: str
    grade_ids: tuple[str, ...]


@dataclass(frozen=True)
class Rubric:
    """The rubric of one exercise notebook."""

    notebook: str
    title: str
    autograded: tuple[AutogradedItem, ...]
    manual: tuple[ManualItem, ...]
    tasks: tuple[Task, ...] = ()

    @property
    def autograded_points(self) -> dict[str, float]:
        """``{grade_id: points}`` of the autograded test cells."""
        return {item.grade_id: item.points for item in self.autograded}

    @property
    def manual_points(self) -> dict[str, float]:
        """``{grade_id: points}`` of the written answers."""
        return {item.grade_id: item.points for item in self.manual}

    @property
    def points(self) -> dict[str, float]:
        """``{grade_id: points}`` of every graded cell."""
        return self.autograded_points | self.manual_points

    @property
    def autograded_total(self) -> float:
        """The most points the autograded tests can earn."""
        return sum(self.autograded_points.values())

    @property
    def total(self) -> float:
        """The most points the exercise can earn."""
        return sum(self.points.values())

    def task_points(self, task: Task) -> float:
        """The points ``task`` is worth: those of its graded cells."""
        return sum(self.points[gid] for gid in task.grade_ids)

    def points_table(self) -> str:
        """The notebook's table of tasks and points (no trailing newline); empty without tasks.

        >>> rubric = parse_rubric({"notebook": "00_demo.ipynb", "title": "Demo", "manual": [],
        ...     "autograded": [{"grade_id": "a", "points": 2, "description": "a works"}],
        ...     "tasks": [{"task": "(a)", "what": "write a", "grade_ids": ["a"]}]})
        >>> print(rubric.points_table())
        | Task | What | Points |
        | --- | --- | ---: |
        | (a) | write a | 2 |
        | | **total** (2 checked automatically, 0 for written answers) | **2** |
        """
        if not self.tasks:
            return ""
        lines = ["| Task | What | Points |", "| --- | --- | ---: |"]
        lines += [f"| {_cell(t.task)} | {_cell(t.what)} | {_num(self.task_points(t))} |" for t in self.tasks]
        split = f"{_num(self.autograded_total)} checked automatically, {_num(sum(self.manual_points.values()))}"
        lines.append(f"| | **total** ({split} for written answers) | **{_num(self.total)}** |")
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """A human-readable view: a table of the autograded tests and one per written answer."""
        stem = Path(self.notebook).stem
        lines = [
            f"<!-- Generated from rubrics/{stem}.yml by `course-exercises`; edit the .yml, not this file. -->",
            "",
            f"# Rubric: {self.title}",
            "",
            f"Exercise notebook: `exercises/{self.notebook}`. "
            f"Total: **{_num(self.total)} points** "
            f"({_num(self.autograded_total)} autograded, "
            f"{_num(sum(self.manual_points.values()))} for written answers).",
        ]
        if self.autograded:
            lines += ["", "## Autograded tests", "", "| Grade id | Points | What it checks |", "| --- | ---: | --- |"]
            lines += [
                f"| `{i.grade_id}` | {_num(i.points)} | {_cell(i.description)}"
                f"{' *(checked in your kernel: best-effort)*' if i.in_process else ''} |"
                for i in self.autograded
            ]
        for item in self.manual:
            lines += [
                "",
                f"## Written answer `{item.grade_id}` ({_num(item.points)} points)",
                "",
                _cell(item.criterion),
                "",
                "| Points | An answer at this level |",
                "| ---: | --- |",
            ]
            lines += [f"| {_num(level.points)} | {_cell(level.descriptor)} |" for level in item.levels]
        return "\n".join(lines) + "\n"


def _num(value: float) -> str:
    return f"{value:g}"


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


# --------------------------------------------------------------------------- loading

_TOP_KEYS = {"notebook", "title", "autograded", "manual"}
_TASK_KEYS = {"task", "what", "grade_ids"}
_AUTO_KEYS = {"grade_id", "points", "description"}
_AUTO_OPTIONAL = {"check", "forbidden"}
_MANUAL_KEYS = {"grade_id", "points", "criterion", "levels"}
_LEVEL_KEYS = {"points", "descriptor"}


def load_rubric(path: Path | str) -> Rubric:
    """Read and validate a rubric YAML file; raise :class:`RubricError` with a clear message."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise RubricError(f"{path.name}: not valid YAML: {err}") from err
    return parse_rubric(data, source=path.name)


def parse_rubric(data: Any, *, source: str = "rubric") -> Rubric:
    """Validate already-parsed rubric data (see the module docstring for the schema)."""
    top = _mapping(data, _TOP_KEYS, {"total", "tasks"}, where=source)
    notebook = _text(top, "notebook", where=source)
    if not notebook.endswith(".ipynb") or "/" in notebook:
        raise RubricError(f"{source}: notebook must be a file name such as 01_name.ipynb, got {notebook!r}")
    title = _text(top, "title", where=source)

    autograded = tuple(
        AutogradedItem(
            grade_id=_text(entry, "grade_id", where=where),
            points=_points(entry, where=where),
            description=_text(entry, "description", where=where),
            in_process=_check_kind(entry, where=where),
            forbidden=_names(entry, "forbidden", where=where),
        )
        for where, entry in _entries(top, "autograded", _AUTO_KEYS, source=source, optional=_AUTO_OPTIONAL)
    )
    manual = tuple(
        _manual_item(entry, where=where) for where, entry in _entries(top, "manual", _MANUAL_KEYS, source=source)
    )

    seen: set[str] = set()
    for gid in [item.grade_id for item in autograded] + [item.grade_id for item in manual]:
        if gid in seen:
            raise RubricError(f"{source}: grade_id {gid!r} appears more than once")
        seen.add(gid)

    tasks = _tasks(top, seen, source=source)
    rubric = Rubric(notebook=notebook, title=title, autograded=autograded, manual=manual, tasks=tasks)
    if "total" in top:
        stated = top["total"]
        if not _is_number(stated) or abs(stated - rubric.total) > 1e-9:
            raise RubricError(
                f"{source}: total is {stated!r} but the entries add up to {_num(rubric.total)}; "
                "fix the total or the points"
            )
    return rubric


def _tasks(top: Mapping[str, Any], graded: set[str], *, source: str) -> tuple[Task, ...]:
    """The optional ``tasks``: each graded cell in exactly one task, the task names unique."""
    if not top.get("tasks"):  # absent, or an empty list: the notebook has no points table
        return ()
    tasks, owner = [], {}
    for where, entry in _entries(top, "tasks", _TASK_KEYS, source=source):
        ids = entry["grade_ids"]
        if not isinstance(ids, list) or not ids or not all(isinstance(gid, str) for gid in ids):
            raise RubricError(f"{where}: grade_ids must be a non-empty list of grade ids, got {ids!r}")
        task = Task(
            task=_text(entry, "task", where=where), what=_text(entry, "what", where=where), grade_ids=tuple(ids)
        )
        if any(task.task == other.task for other in tasks):
            raise RubricError(f"{where}: task {task.task!r} is listed twice")
        for gid in ids:
            if gid not in graded:
                raise RubricError(f"{where}: grade id {gid!r} has no autograded or manual entry")
            if gid in owner:
                raise RubricError(f"{where}: grade id {gid!r} is already in task {owner[gid]!r}")
            owner[gid] = task.task
        tasks.append(task)
    if missing := sorted(graded - owner.keys()):
        raise RubricError(f"{source}: tasks: grade id(s) {', '.join(missing)} belong to no task; add them to one")
    return tuple(tasks)


def _manual_item(entry: Mapping[str, Any], *, where: str) -> ManualItem:
    gid = _text(entry, "grade_id", where=where)
    points = _points(entry, where=where)
    criterion = _text(entry, "criterion", where=where)
    raw_levels = entry["levels"]
    if not isinstance(raw_levels, list) or not raw_levels:
        raise RubricError(f"{where}: levels must be a non-empty list of {{points, descriptor}} entries")
    levels = []
    for index, raw in enumerate(raw_levels):
        at = f"{where}, level {index}"
        level = _mapping(raw, _LEVEL_KEYS, set(), where=at)
        value = level["points"]
        if not _is_number(value) or not 0 <= value <= points:
            raise RubricError(f"{at}: points must be a number from 0 to {_num(points)}, got {value!r}")
        levels.append(Level(points=float(value), descriptor=_text(level, "descriptor", where=at)))
    values = [level.points for level in levels]
    if len(set(values)) != len(values):
        raise RubricError(f"{where}: two levels have the same points ({sorted(values)}); each level needs its own")
    if 0 not in values or points not in values:
        raise RubricError(
            f"{where}: levels must cover 0 to {_num(points)} points (a level for 0 and one for "
            f"{_num(points)}); they give {', '.join(_num(v) for v in sorted(values))}"
        )
    levels.sort(key=lambda level: level.points, reverse=True)
    return ManualItem(grade_id=gid, points=points, criterion=criterion, levels=tuple(levels))


def _mapping(data: Any, required: set[str], optional: set[str], *, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        keys = ", ".join(sorted(required))
        raise RubricError(f"{where}: expected a mapping with keys {keys}; got {type(data).__name__}")
    missing = sorted(required - data.keys())
    if missing:
        raise RubricError(f"{where}: missing key(s) {', '.join(missing)}")
    unknown = sorted(set(data.keys()) - required - optional)
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise RubricError(f"{where}: unknown key(s) {', '.join(map(str, unknown))} (allowed: {allowed})")
    return data


def _entries(
    top: Mapping[str, Any], key: str, required: set[str], *, source: str, optional: set[str] = frozenset()
) -> list[tuple[str, Any]]:
    value = top[key]
    if value is None:
        return []
    if not isinstance(value, list):
        raise RubricError(f"{source}: {key} must be a list (use [] for none), got {type(value).__name__}")
    out = []
    for index, entry in enumerate(value):
        label = (entry.get("grade_id") or entry.get("task")) if isinstance(entry, Mapping) else None
        where = f"{source}: {key}[{index}]" + (f" ({label})" if label else "")
        out.append((where, _mapping(entry, required, set(optional), where=where)))
    return out


def _check_kind(entry: Mapping[str, Any], *, where: str) -> bool:
    """``True`` for ``check: in-process``; the only other value is ``trusted``, the default."""
    kind = entry.get("check", "trusted")
    if kind not in ("trusted", "in-process"):
        raise RubricError(f"{where}: check must be 'trusted' (the default) or 'in-process', got {kind!r}")
    return kind == "in-process"


def _names(entry: Mapping[str, Any], key: str, *, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise RubricError(f"{where}: {key} must be a list of dotted names such as numpy.percentile")
    return tuple(value)


def _text(data: Mapping[str, Any], key: str, *, where: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise RubricError(f"{where}: {key} must be non-empty text, got {value!r}")
    return value.strip()


def _points(data: Mapping[str, Any], *, where: str) -> float:
    value = data["points"]
    if not _is_number(value) or not value > 0:
        raise RubricError(f"{where}: points must be a positive number, got {value!r}")
    return float(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --------------------------------------------------------------------------- consistency


def check_rubric_matches(rubric: Rubric, nb: NotebookNode) -> list[str]:
    """Problems between ``rubric`` and the graded cells of its (solution) notebook ``nb``.

    Each test cell needs an autograded entry and each written-answer cell a manual entry,
    with the same points; each entry needs such a cell; and the totals must agree. An
    empty list means they match.
    """
    problems: list[str] = []
    roles = {
        gid: role for cell in nb.cells if (role := cell_role(cell)) in ("test", "manual") and (gid := grade_id(cell))
    }
    points = {gid: cell_points(cell) for cell in nb.cells if (gid := grade_id(cell)) in roles}
    sections = {"test": ("autograded", rubric.autograded_points), "manual": ("manual", rubric.manual_points)}
    for gid, role in roles.items():
        section, entries = sections[role]
        other_section, other_entries = sections["manual" if role == "test" else "test"]
        if gid in other_entries:
            problems.append(
                f"{gid!r} is listed under {other_section} but the notebook cell is a {role} cell; move it to {section}"
            )
        elif gid not in entries:
            problems.append(f"graded cell {gid!r} ({_num(points[gid])} points) has no {section} entry")
        elif abs(entries[gid] - points[gid]) > 1e-9:
            problems.append(
                f"{gid!r} is worth {_num(entries[gid])} points in the rubric but {_num(points[gid])} in the notebook"
            )
    for gid in rubric.points:
        if gid not in roles:
            problems.append(f"rubric entry {gid!r} has no graded cell with that grade id in the notebook")
    notebook_total = sum(points.values())
    if abs(notebook_total - rubric.total) > 1e-9:
        problems.append(
            f"the notebook's graded cells add up to {_num(notebook_total)} points, the rubric to {_num(rubric.total)}"
        )
    return problems


def probes(cell: NotebookNode) -> bool:
    """Whether a test cell hands values to ``probe(...)`` (a trusted check)."""
    return "probe(" in "".join(cell.get("source", ""))


def check_probes(rubric: Rubric, nb: NotebookNode) -> list[str]:
    """Problems between the rubric's ``check:`` kinds and the notebook's test cells: a cell without
    ``probe(...)`` must be marked ``check: in-process``, and a cell marked so must not probe."""
    cells = {grade_id(cell): cell for cell in nb.cells if cell_role(cell) == "test"}
    problems = []
    for item in rubric.autograded:
        cell = cells.get(item.grade_id)
        if cell is None:
            continue
        if not item.in_process and not probes(cell):
            problems.append(
                f"test cell {item.grade_id!r} hands no value to probe(...): hand the checked values to probe() "
                "so that the grader decides outside the student's kernel, or mark it `check: in-process`"
            )
        elif item.in_process and probes(cell):
            problems.append(f"test cell {item.grade_id!r} is marked `check: in-process` but calls probe(...)")
    return problems


# --------------------------------------------------------------------------- for grading


def _cell_names(nb: NotebookNode) -> dict[str, str]:
    """``{grade_id: "cell N (id 'x')"}`` for every cell with a grade id, to name it in errors."""
    return {
        gid: f"cell {index} (id {cell.get('id', '?')!r})"
        for index, cell in enumerate(nb.cells)
        if (gid := grade_id(cell)) is not None
    }


def rubric_from_notebook(nb: NotebookNode, notebook: str) -> Rubric:
    """The rubric an nbgrader notebook carries in its cell metadata, for an exercise with no YAML rubric.

    Each test cell (``grade: true, solution: false``) is an autograded entry and each written-answer
    cell (a markdown cell with ``grade: true, solution: true``) a manual entry with the cell's points;
    the manual entries have no level descriptors. The title is the notebook's first heading.

    >>> from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
    >>> meta = lambda gid, points, solution: {"nbgrader": {"grade": True, "solution": solution, "locked": not solution,
    ...     "points": points, "grade_id": gid, "schema_version": 3}}
    >>> nb = new_notebook(cells=[new_markdown_cell("# Squares"),
    ...     new_code_cell("assert f(2) == 4", metadata=meta("t", 2, False)),
    ...     new_markdown_cell("Because ...", metadata=meta("why", 3, True))])
    >>> rubric = rubric_from_notebook(nb, "07_squares.ipynb")
    >>> rubric.title, rubric.autograded_points, rubric.manual_points, rubric.manual[0].levels
    ('Squares', {'t': 2.0}, {'why': 3.0}, ())
    """
    names = _cell_names(nb)
    autograded, manual = [], []
    for cell in nb.cells:
        role, gid = cell_role(cell), grade_id(cell)
        if role not in ("test", "manual") or gid is None:
            continue
        points = cell_points(cell)
        if not points > 0:
            raise RubricError(f"{notebook}: {names[gid]}, grade id {gid!r}: a graded cell needs points > 0")
        if role == "test":  # an nbgrader test cell asserts in the kernel, unless it probes
            description = f"nbgrader test cell {gid} ({names[gid]})"
            autograded.append(AutogradedItem(gid, points, description, in_process=not probes(cell)))
        else:
            criterion = f"Written answer {gid}, marked out of {_num(points)} (no rubric file: no level descriptors)."
            manual.append(ManualItem(gid, points, criterion, ()))
    if not autograded and not manual:
        raise RubricError(f"{notebook}: no graded cell (nbgrader grade: true) and no rubric file; nothing to grade")
    heading = next(
        (
            line.lstrip("#").strip()
            for c in nb.cells
            if c.cell_type == "markdown"
            for line in _lines(c)
            if line.startswith("#")
        ),
        "",
    )
    return Rubric(notebook, heading or Path(notebook).stem, tuple(autograded), tuple(manual))


def _lines(cell: NotebookNode) -> list[str]:
    source = cell.get("source", "")
    return ("".join(source) if isinstance(source, list) else source).splitlines()


def rubric_for(solution_nb: NotebookNode, rubric_path: Path | str) -> Rubric:
    """The rubric to grade ``solution_nb`` with: ``rubric_path`` if it exists, else the notebook's own.

    A YAML rubric must agree with the notebook (:func:`check_rubric_matches`): a test cell the rubric
    does not list, or a rubric entry with no cell, is a :class:`RubricError` that names the cell.
    Without the file, the points come from the notebook's nbgrader metadata
    (:func:`rubric_from_notebook`); the notebook is named after the rubric path
    (``rubrics/07_squares.yml`` -> ``07_squares.ipynb``).
    """
    rubric_path = Path(rubric_path)
    notebook = rubric_path.stem + ".ipynb"
    if not rubric_path.exists():
        return rubric_from_notebook(solution_nb, notebook)
    rubric = load_rubric(rubric_path)
    problems = check_rubric_matches(rubric, solution_nb) + check_probes(rubric, solution_nb)
    if problems:
        names = _cell_names(solution_nb)
        located = [
            problem + "".join(f" [{where}]" for gid, where in names.items() if f"{gid!r}" in problem)
            for problem in problems
        ]
        raise RubricError(
            f"{rubric_path.name} does not match solutions/{notebook}:\n"
            + "\n".join(f"  - {line}" for line in located)
            + f"\nFix the rubric or the notebook (or delete {rubric_path.name} to take the points from the notebook)."
        )
    return rubric
