"""The course map: the modules of the course, and what each notebook says about itself, as data.

The course's metadata is written once. The modules and their titles are :data:`MODULES`, here.
Each lesson (and lab) keeps the rest in its own notebook metadata, under ``"course"``::

    "course": {
        "module": "03",
        "title": "Database optimisation: count the queries, read the plan, fix the usual suspects",
        "minutes": 120,                  # the whole lesson, questions included
        "minutes_for_questions": 45,     # optional: the part spent on the questions the text asks
        "promise": "After this lesson you can ...",
        "prerequisites": "lessons 01 and 02 (...); SQL at the level of ...",
        "questions": ["How many SQL statements does this ORM code send, and how can you tell?", ...],
        "objectives": ["count and list the statements a block of code issues, ...", ...],
        "services": ["database"]         # other keys (here: what course_tools.suite reruns) stay
    }

Texts are Markdown. ``module`` must match the file name's two-digit prefix; a file named
``NN_lab_*.ipynb`` is module NN's lab. :func:`course_map` reads all of it, and everything else is
generated from what it returns: the map in ``notebooks/00_start_here.ipynb`` and the table in
README.md (both :func:`course_table`), the site's table of contents (``course_tools.site``) and
each lesson's header cell (``course_tools.course_views``, which also checks they are in step).

Exercises need no such metadata: an exercise's module comes from its file name, its title from its
first heading and its time from the "**Time:** about N minutes" of its first cell (which the
student reads anyway); ``metadata.course`` wins where present.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

__all__ = [
    "MODULES",
    "WITHOUT_EXERCISE",
    "WITHOUT_LESSON",
    "CourseMapError",
    "Module",
    "Notebook",
    "course_map",
    "course_root",
    "course_table",
    "format_minutes",
    "read_exercise",
    "read_lesson",
]

#: The modules of the course, number -> title, written or not (the syllabus, COURSE.md).
MODULES: Mapping[str, str] = MappingProxyType(
    {
        "00": "Start here",
        "01": "Performance fundamentals",
        "02": "Profiling and benchmarking",
        "03": "Database optimisation",
        "04": "Caching",
        "05": "Monitoring and APM",
        "06": "Load testing and resilience",
        "07": "Capstone: make a slow service meet its SLO",
    }
)
#: Modules that have no exercise by design.
WITHOUT_EXERCISE: frozenset[str] = frozenset({"00"})
#: Modules that have no lesson by design: the exercise is the whole module (the capstone).
WITHOUT_LESSON: frozenset[str] = frozenset({"07"})

_FILE_NAME = re.compile(r"^(\d\d)_.+\.ipynb$")
_EXERCISE_HEADING = re.compile(r"^#\s+(?:Exercise\s+\d\d\s*:\s*)?(.+?)\s*$", re.MULTILINE)
_EXERCISE_TIME = re.compile(r"\*\*Time:\*\*\s*(?:about\s+)?(\d+)\s+minutes")


class CourseMapError(ValueError):
    """A notebook's course metadata is missing or malformed; the message names the file and the fix."""


@dataclass(frozen=True)
class Notebook:
    """One notebook of the map (a lesson, a lab or an exercise) with what its metadata says."""

    path: Path
    kind: Literal["lesson", "lab", "exercise"]
    module: str
    title: str
    minutes: int | None
    minutes_for_questions: int | None = None
    promise: str = ""
    prerequisites: str = ""
    questions: tuple[str, ...] = ()
    objectives: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The file name, as ``path.name``."""
        return self.path.name

    @property
    def stem(self) -> str:
        """The file name without ``.ipynb``, as ``path.stem``."""
        return self.path.stem


@dataclass(frozen=True)
class Module:
    """One module: its number and title, its lesson and labs (lesson first) and its exercise."""

    number: str
    title: str
    lessons: tuple[Notebook, ...] = ()
    exercise: Notebook | None = None

    @property
    def caption(self) -> str:
        """``"03 Database optimisation"``."""
        return f"{self.number} {self.title}"

    @property
    def shown_exercise(self) -> Notebook | None:
        """The exercise as the map shows it: only beside its lesson, or alone in a module that has no
        lesson by design (:data:`WITHOUT_LESSON`); an exercise ahead of its lesson stays hidden."""
        return self.exercise if self.lessons or self.number in WITHOUT_LESSON else None

    @property
    def written(self) -> bool:
        """Whether a learner can open the module: its lesson, or its exercise if it has no lesson by design."""
        return bool(self.lessons) or self.shown_exercise is not None


def format_minutes(minutes: int) -> str:
    """An estimated time in words.

    >>> format_minutes(45), format_minutes(90), format_minutes(120)
    ('about 45 minutes', 'about 90 minutes', 'about 2 hours')
    """
    if minutes >= 120 and minutes % 60 == 0:
        return f"about {minutes // 60} hours"
    return f"about {minutes} minutes"


def _notebook_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CourseMapError(f"{path}: cannot read it as a notebook ({error})") from None


def _texts(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(t, str) and t.strip() for t in value)


def read_lesson(path: Path) -> Notebook:
    """The lesson or lab at ``path``, from its ``metadata.course`` (format: this module's docstring).

    Raises :class:`CourseMapError` naming the first key that is missing or of the wrong type.
    """
    course = _notebook_json(path).get("metadata", {}).get("course", {})
    number = _FILE_NAME.match(path.name)
    checks = {
        "module": (lambda v: bool(number) and v == number[1], f"the file name's prefix, {number and number[1]!r}"),
        "title": (lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string"),
        "minutes": (lambda v: type(v) is int and v > 0, "a whole number of minutes above 0"),
        "promise": (lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string"),
        "prerequisites": (lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string"),
        "questions": (_texts, "a non-empty list of strings"),
        "objectives": (_texts, "a non-empty list of strings"),
    }
    for key, (valid, expected) in checks.items():
        if not valid(course.get(key)):
            raise CourseMapError(
                f"{path}: metadata.course.{key} should be {expected}, not {course.get(key)!r}. Set it in the "
                "notebook's metadata (JupyterLab: Property Inspector, Notebook metadata), then run `make course-map`."
            )
    part = course.get("minutes_for_questions")
    if part is not None and not (type(part) is int and 0 < part < course["minutes"]):
        raise CourseMapError(f"{path}: metadata.course.minutes_for_questions should be a part of minutes, not {part!r}")
    return Notebook(
        path=path,
        kind="lab" if path.name[3:].startswith("lab_") else "lesson",
        module=course["module"],
        title=course["title"],
        minutes=course["minutes"],
        minutes_for_questions=part,
        promise=course["promise"],
        prerequisites=course["prerequisites"],
        questions=tuple(course["questions"]),
        objectives=tuple(course["objectives"]),
    )


def read_exercise(path: Path) -> Notebook:
    """The exercise at ``path``: ``metadata.course`` where it has module, title or minutes, else
    the file name's prefix, the first heading without "Exercise NN:", and the
    "**Time:** about N minutes" of the first cell (``None`` if it states none)."""
    notebook = _notebook_json(path)
    course = notebook.get("metadata", {}).get("course", {})
    cells = notebook.get("cells", [])
    first = "".join(cells[0].get("source", "")) if cells and cells[0].get("cell_type") == "markdown" else ""
    heading, time = _EXERCISE_HEADING.search(first), _EXERCISE_TIME.search(first)
    number = _FILE_NAME.match(path.name)
    return Notebook(
        path=path,
        kind="exercise",
        module=course.get("module") or (number[1] if number else ""),
        title=course.get("title") or (heading[1] if heading else path.stem),
        minutes=course.get("minutes") or (int(time[1]) if time else None),
    )


def course_map(root: Path) -> list[Module]:
    """Every module of :data:`MODULES` in order, with its notebooks from ``root/notebooks`` and
    ``root/exercises``; a module with no notebook yet has none (it is *in preparation*).

    >>> modules = course_map(course_root())
    >>> [module.caption for module in modules][:2], modules[0].lessons[0].name
    (['00 Start here', '01 Performance fundamentals'], '00_start_here.ipynb')
    >>> modules[-1].lessons
    ()
    """
    lessons: dict[str, list[Notebook]] = {number: [] for number in MODULES}
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        if not (match := _FILE_NAME.match(path.name)):
            continue
        if match[1] not in MODULES:
            raise CourseMapError(f"{path}: module {match[1]} is not in course_lib.course_map.MODULES; add it there")
        lessons[match[1]].append(read_lesson(path))
    exercises = {n.module: n for n in map(read_exercise, sorted((root / "exercises").glob("[0-9][0-9]_*.ipynb")))}
    return [
        Module(
            number,
            title,
            tuple(sorted(lessons[number], key=lambda n: (n.kind == "lab", n.name))),
            exercises.get(number),
        )
        for number, title in MODULES.items()
    ]


def course_root(start: Path | None = None) -> Path:
    """The course repository: the first folder holding ``notebooks/00_start_here.ipynb``, from
    ``start`` (default: the current folder) upwards, else the one this library is installed from.

    >>> (course_root() / "course_lib" / "course_map.py").is_file()
    True
    """
    start = (start or Path.cwd()).resolve()
    for folder in [start, *start.parents, Path(__file__).resolve().parents[1]]:
        if (folder / "notebooks" / "00_start_here.ipynb").is_file():
            return folder
    raise FileNotFoundError(
        f"No course repository (a folder with notebooks/00_start_here.ipynb) at or above {start}, nor "
        "where course_lib is installed: open the notebook from the course repository."
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def course_table(modules: Sequence[Module], links_from: str = ".") -> str:
    """The course map as a Markdown table: module, lesson and labs, exercise, estimated time.
    Links are relative to the folder ``links_from`` (relative to the repository root), e.g.
    ``"notebooks"`` for a table shown in a lesson.

    >>> lesson = Notebook(Path("notebooks/01_x.ipynb"), "lesson", "01", "X and Y", 90)
    >>> print(course_table([Module("01", "X", (lesson,)), Module("06", "Z")], links_from="notebooks"))
    | module | lesson | exercise | estimated time |
    | --- | --- | --- | --- |
    | 01 X | [X and Y](01_x.ipynb) | *in preparation* | lesson 90 min |
    | 06 Z | *in preparation* | *in preparation* |  |

    A module without a lesson by design (:data:`WITHOUT_LESSON`) shows "none" and its exercise.
    """

    def link(notebook: Notebook, text: str) -> str:
        target = posixpath.relpath(f"{notebook.path.parent.name}/{notebook.name}", links_from)
        return f"[{_cell(text)}]({target})"

    rows = ["| module | lesson | exercise | estimated time |", "| --- | --- | --- | --- |"]
    for module in modules:
        exercise = module.shown_exercise
        shown = [*module.lessons, *([exercise] if exercise else [])]
        time = ", ".join(f"{n.kind} {n.minutes} min" if n.minutes else f"{n.kind} time not stated" for n in shown)
        cells = [
            _cell(module.caption),
            "<br>".join(link(n, n.title) for n in module.lessons)
            or ("none" if module.number in WITHOUT_LESSON else "*in preparation*"),
            link(exercise, f"Exercise {module.number}")
            if exercise
            else "none"
            if module.number in WITHOUT_EXERCISE
            else "*in preparation*",
            time,
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
