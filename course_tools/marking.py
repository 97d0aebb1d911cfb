"""``course-mark``: mark the written answers question by question, merge the marks, hand back, export.

After ``course-grade`` has written ``GRADING_OUT/NN_name/`` (grades.csv, feedback/, summary)::

    course-mark pages  GRADING_OUT/NN_name --submissions SUBMISSIONS [--course .] [--names]
    course-mark merge  GRADING_OUT/NN_name [--course .]
    course-mark export GRADING_OUT/NN_name --lms canvas|moodle [--submissions SUBMISSIONS] [--column NAME]

``pages`` writes, per written answer (manual criterion) of the rubric, into ``NN_name/marking/``:

- ``pages/<grade_id>.html``: one self-contained page with the question, the criterion and its
  level descriptors, the model answer (folded) and every student's answer as plain text, under a
  pseudonym (S01, S02, ...; ``--names`` adds the names);
- ``marks/<grade_id>.csv``: the marks to fill in, one row per pseudonym: ``level`` (one of the
  criterion's levels, named by their points), ``points`` (empty: the level's points; any number
  from 0 to the criterion's points otherwise) and ``comment`` (shown to the student). A student
  with no answer is pre-filled with level 0;
- ``key.csv``: who is behind each pseudonym (keep it to yourself; share only pages/ and marks/).

Running ``pages`` again (after a late submission, say) keeps every pseudonym and every mark
already written and adds rows for new students. ``course-grade`` never touches ``marking/``.

``merge`` checks every marks file (an unknown pseudonym or level, points out of range: the file
and line are named and nothing is written), then fills the manual columns of ``grades.csv``,
adds ``final_total`` and ``final_max``, writes each student's level, points and comment into their
feedback (``feedback/<name>.md``, and ``.html`` beside it) and adds the levels per criterion to
``summary.md`` and ``summary.png``. Run it again after re-grading: the marks are read afresh.

``export`` writes ``NN_name/export/canvas.csv`` or ``moodle.csv`` for the LMS's grade import
(columns: :mod:`course_tools.handback`), with the LMS ids ``course-collect`` recorded.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import html
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_tools.cells import MANUAL_PLACEHOLDER, cell_role, grade_id
from course_tools.collect import read_lms_ids
from course_tools.grading.analytics import level_stats
from course_tools.grading.output import open_fresh, write_fresh
from course_tools.grading.report import feedback_names, write_marked_summary
from course_tools.grading.runner import read_submission
from course_tools.handback import LMS_FORMATS, canvas_csv, moodle_csv, write_feedback_html
from course_tools.rubrics import ManualItem, Rubric, RubricError, rubric_for

__all__ = ["MarkingError", "load_exercise", "make_pages", "parse_mark", "complete_feedback", "merge", "export", "main"]

MARKS_COLUMNS = ["pseudonym", "level", "points", "comment"]
KEY_COLUMNS = ["pseudonym", "student", "lms", "lms_id", "lms_name"]
NO_ANSWER = "No answer was found in your notebook."


class MarkingError(Exception):
    """Something stops the command; the message says what and what to do."""


# --------------------------------------------------------------------------- inputs


@dataclass
class Exercise:
    """An exercise's graded folder, its rubric and its solution notebook."""

    folder: Path
    rubric: Rubric
    solution: nbformat.NotebookNode

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def marking(self) -> Path:
        return self.folder / "marking"


def load_exercise(folder: Path, course: Path) -> Exercise:
    """The exercise graded into ``folder`` (named ``NN_name``), with its rubric from ``course``."""
    if not (folder / "grades.csv").exists():
        raise MarkingError(f"{folder}/grades.csv not found: run course-grade first (GRADING_OUT/NN_name is expected)")
    solution_path = course / "solutions" / f"{folder.name}.ipynb"
    if not solution_path.exists():
        raise MarkingError(f"{solution_path} not found: pass --course, the folder holding solutions/ and rubrics/")
    solution = nbformat.read(solution_path, as_version=4)
    try:
        rubric = rubric_for(solution, course / "rubrics" / f"{folder.name}.yml")
    except RubricError as error:
        raise MarkingError(str(error)) from error
    return Exercise(folder, rubric, solution)


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8-sig") as f:  # a spreadsheet may add a BOM
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def write_csv(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_fresh(path, newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def students_of(exercise: Exercise) -> list[str]:
    return [row["student"] for row in read_csv(exercise.folder / "grades.csv")[1]]


def _num(value: float) -> str:
    return f"{value:g}"


# --------------------------------------------------------------------------- pseudonyms


def update_key(path: Path, students: list[str], lms_ids: list[dict[str, str]]) -> dict[str, str]:
    """``{student: pseudonym}``: those in ``path`` kept, new students numbered after them (in an order
    that is not alphabetical, so the numbers do not give the names away); LMS ids refreshed."""
    rows = read_csv(path)[1] if path.exists() else []
    known = {row["student"]: row for row in rows}
    new = sorted((s for s in students if s not in known), key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    width = max(2, len(str(len(rows) + len(new))))
    for number, student in enumerate(new, start=len(rows) + 1):
        known[student] = {"pseudonym": f"S{number:0{width}d}", "student": student}
    ids = {row["student"]: row for row in lms_ids}
    for student, row in known.items():
        for column in KEY_COLUMNS[2:]:
            row[column] = ids.get(student, {}).get(column, row.get(column, ""))
    write_csv(path, KEY_COLUMNS, sorted(known.values(), key=lambda r: r["pseudonym"]))
    return {student: row["pseudonym"] for student, row in known.items()}


def read_key(exercise: Exercise) -> list[dict[str, str]]:
    path = exercise.marking / "key.csv"
    if not path.exists():
        raise MarkingError(f"{path} not found: run course-mark pages first")
    return read_csv(path)[1]


# --------------------------------------------------------------------------- pages


def answers(submissions: Path, name: str, students: list[str]) -> dict[str, dict[str, str]]:
    """``{student: {grade_id: answer}}``, read (never written) from ``submissions/<student>/<name>.ipynb``."""
    found = {}
    for student in students:
        nb, _ = read_submission(submissions / student / f"{name}.ipynb")
        cells = nb.cells if nb is not None else []
        found[student] = {grade_id(c): c.source.strip() for c in cells if cell_role(c) == "manual"}
    return found


def _answered(text: str | None) -> bool:
    return bool(text) and text.strip() != MANUAL_PLACEHOLDER


def question_and_model(solution: nbformat.NotebookNode, gid: str) -> tuple[str, str]:
    """The markdown cell that asks for answer ``gid`` (the nearest one before it) and the model answer."""
    for index, cell in enumerate(solution.cells):
        if grade_id(cell) == gid:
            before = [c for c in solution.cells[:index] if c.cell_type == "markdown" and cell_role(c) is None]
            return (before[-1].source if before else ""), cell.source
    return "", ""


def prefill_marks(path: Path, item: ManualItem, pseudonyms: dict[str, str], given: dict[str, str | None]) -> None:
    """Add a row for every pseudonym the marks file lacks (level 0 if there is no answer); keep the rest."""
    rows = read_csv(path)[1] if path.exists() else []
    present = {row.get("pseudonym") for row in rows}
    for student, pseudonym in sorted(pseudonyms.items(), key=lambda kv: kv[1]):
        if pseudonym in present:
            continue
        blank = not _answered(given.get(student))
        level = "0" if blank and item.levels else ""
        rows.append(
            {
                "pseudonym": pseudonym,
                "level": level,
                "points": "0" if blank else "",
                "comment": NO_ANSWER if blank else "",
            }
        )
    write_csv(path, MARKS_COLUMNS, rows)


_PAGE_STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; } th, td { border: 1px solid #bbb; padding: .3rem .6rem; vertical-align: top; }
pre { background: #f6f6f6; padding: .7rem; white-space: pre-wrap; overflow-wrap: anywhere; border-left: 4px solid #888 }
section { border-top: 1px solid #ccc; margin-top: 1.5rem; } .none { color: #a00; } .meta { color: #555; }
"""


def page_html(exercise: Exercise, item: ManualItem, entries: list[tuple[str, str, str | None, dict]]) -> str:
    """The marking page of criterion ``item``: ``entries`` are (pseudonym, label, answer, current mark row)."""
    e = html.escape
    question, model = question_and_model(exercise.solution, item.grade_id)
    level_names = (
        ", ".join(_num(level.points) for level in item.levels) or f"none: give points from 0 to {item.points:g}"
    )
    parts = [
        f"<h1>{e(exercise.name)}: written answer <code>{e(item.grade_id)}</code> ({item.points:g} points)</h1>",
        f"<p class='meta'>{len(entries)} students. Marks go in <code>marking/marks/{e(item.grade_id)}.csv</code> "
        f"(columns pseudonym, level, points, comment); levels: {e(level_names)}. Points left empty are the "
        "level's points. Then run <code>course-mark merge</code>.</p>",
        f"<h2>Criterion</h2><p>{e(item.criterion)}</p>",
    ]
    if item.levels:
        rows = "".join(f"<tr><td>{level.points:g}</td><td>{e(level.descriptor)}</td></tr>" for level in item.levels)
        parts.append(f"<table><tr><th>level (points)</th><th>an answer at this level</th></tr>{rows}</table>")
    if question:
        parts.append(f"<h2>The question</h2><pre>{e(question)}</pre>")
    if model:
        parts.append(f"<details><summary>Model answer (from solutions/)</summary><pre>{e(model)}</pre></details>")
    parts.append("<h2>Answers</h2>")
    for pseudonym, label, answer, mark in entries:
        words = len(answer.split()) if _answered(answer) else 0
        current = ", ".join(f"{k} {mark[k]}" for k in ("level", "points", "comment") if mark.get(k)) or "not marked"
        body = f"<pre>{e(answer)}</pre>" if _answered(answer) else "<p class='none'>(no answer)</p>"
        parts.append(
            f"<section id='{e(pseudonym)}'><h3>{e(label)}</h3>"
            f"<p class='meta'>{words} words; marks file now: {e(current)}</p>{body}</section>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{e(exercise.name)}: {e(item.grade_id)}</title>\n<style>{_PAGE_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body>\n</html>\n"
    )


def make_pages(exercise: Exercise, submissions: Path, names: bool = False) -> list[Path]:
    """Write the marking pages, the pre-filled marks files and the key; return the pages written."""
    students = students_of(exercise)
    pseudonyms = update_key(exercise.marking / "key.csv", students, read_lms_ids(submissions))
    given = answers(submissions, exercise.name, students)
    written = []
    for item in exercise.rubric.manual:
        marks_path = exercise.marking / "marks" / f"{item.grade_id}.csv"
        prefill_marks(marks_path, item, pseudonyms, {s: given[s].get(item.grade_id) for s in students})
        current = {row["pseudonym"]: row for row in read_csv(marks_path)[1]}
        entries = [
            (p, f"{p} ({s})" if names else p, given[s].get(item.grade_id), current.get(p, {}))
            for s, p in sorted(((s, pseudonyms[s]) for s in students), key=lambda sp: sp[1])
        ]
        page = exercise.marking / "pages" / f"{item.grade_id}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        write_fresh(page, page_html(exercise, item, entries))
        written.append(page)
    return written


# --------------------------------------------------------------------------- marks


@dataclass(frozen=True)
class Mark:
    """One student's mark on one criterion."""

    level: float | None  # the level's points; None for a criterion without levels
    points: float
    comment: str


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def parse_mark(row: dict[str, str], item: ManualItem) -> Mark | None | str:
    """The row's mark, ``None`` if it is not marked yet, or what is wrong with it."""
    level_text, points_text = (row.get("level") or "").strip(), (row.get("points") or "").strip()
    comment = (row.get("comment") or "").strip()
    levels = {level.points: level for level in item.levels}
    names = ", ".join(_num(p) for p in levels)
    if not level_text and not points_text:
        return None
    level = _number(level_text) if level_text else None
    if level_text and (not levels or level not in levels):
        return (
            f"unknown level {level_text!r} for {item.grade_id} (levels: {names})"
            if levels
            else f"{item.grade_id} has no levels; leave level empty and give points"
        )
    points = _number(points_text) if points_text else level
    if points is None:
        return f"points {points_text!r} is not a number"
    if not 0 <= points <= item.points:
        return f"points {points_text} out of range: {item.grade_id} is marked from 0 to {item.points:g}"
    if level is None and levels:
        if points not in levels:
            return f"give the level too (one of {names}): {points:g} points is not a level"
        level = points
    return Mark(level, points, comment)


def read_marks(path: Path, item: ManualItem, pseudonyms: set[str]) -> tuple[dict[str, Mark | None], list[str]]:
    """``{pseudonym: mark}`` from a marks file, and the errors found (each naming the file and line)."""
    errors: list[str] = []
    marks: dict[str, Mark | None] = {}
    with path.open(newline="", encoding="utf-8-sig") as f:  # a spreadsheet may add a BOM
        reader = csv.DictReader(f)
        missing = [c for c in MARKS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            return {}, [
                f"{path}:1: missing column(s) {', '.join(missing)}; the header must be {','.join(MARKS_COLUMNS)}"
            ]
        for row in reader:
            where = f"{path}:{reader.line_num}"
            pseudonym = (row.get("pseudonym") or "").strip()
            if pseudonym not in pseudonyms:
                known = f"{min(pseudonyms)} to {max(pseudonyms)}" if pseudonyms else "none"
                errors.append(f"{where}: unknown pseudonym {pseudonym!r} (key.csv has {known})")
            elif pseudonym in marks:
                errors.append(f"{where}: {pseudonym} has a second row; keep one")
            elif isinstance(mark := parse_mark(row, item), str):
                errors.append(f"{where}: {pseudonym}: {mark}")
            else:
                marks[pseudonym] = mark
    return marks, errors


def read_all_marks(exercise: Exercise) -> tuple[dict[str, dict[str, Mark | None]], list[str], list[str]]:
    """``{grade_id: {student: mark}}``, the errors, and warnings (criteria without a marks file)."""
    key = {row["pseudonym"]: row["student"] for row in read_key(exercise)}
    everything, errors, warnings = {}, [], []
    for item in exercise.rubric.manual:
        path = exercise.marking / "marks" / f"{item.grade_id}.csv"
        if not path.exists():
            warnings.append(f"{path} not found: {item.grade_id} is not marked (course-mark pages writes it)")
            everything[item.grade_id] = {}
            continue
        marks, problems = read_marks(path, item, set(key))
        errors += problems
        everything[item.grade_id] = {key[p]: mark for p, mark in marks.items()}
    return everything, errors, warnings


# --------------------------------------------------------------------------- merge

_BLOCK = re.compile(r"\n\n<!-- course-mark: (?P<id>[\w-]+) -->\n.*?\n<!-- /course-mark: (?P=id) -->", re.S)


def _block(tag: str, lines: list[str]) -> list[str]:
    return ["", f"<!-- course-mark: {tag} -->", *lines, f"<!-- /course-mark: {tag} -->"]


def complete_feedback(text: str, rubric: Rubric, marks: dict[str, Mark | None], total: str, maximum: str) -> str:
    """``text`` (a feedback file) with the marks under each written answer's heading and the total at the
    top; the blocks of an earlier merge are replaced, so merging twice gives the same file."""
    lines = _BLOCK.sub("", text).rstrip("\n").split("\n")
    for item in rubric.manual:
        mark = marks.get(item.grade_id)
        if mark is None:
            continue
        descriptor = next((lv.descriptor for lv in item.levels if lv.points == mark.level), "")
        body = [
            f"**Marked: {mark.points:g} / {item.points:g} points**"
            + (f" (level {mark.level:g})" if item.levels else "")
        ]
        body += [f"Level {mark.level:g}: {descriptor}"] if descriptor else []
        body += [f"Comment: {mark.comment}"] if mark.comment else []
        body = [x for line in body for x in (line, "")][:-1]
        heading = next((i for i, line in enumerate(lines) if line.startswith(f"### {item.grade_id} (")), None)
        if heading is None:
            lines += _block(item.grade_id, [f"### {item.grade_id} ({item.points:g} points)", "", *body])
        else:
            lines[heading + 1 : heading + 1] = _block(item.grade_id, body)
    if total:
        at = next((i for i, line in enumerate(lines) if line.startswith("Automatically graded points")), 0)
        lines[at + 1 : at + 1] = _block("total", [f"**Total with the written answers: {total} / {maximum}**"])
    return "\n".join(lines) + "\n"


def merged_rows(exercise: Exercise, header: list[str], rows: list[dict[str, str]], marks) -> list[str]:
    """Fill the manual columns and ``final_total``/``final_max`` of ``rows``; return the new header."""
    manual = exercise.rubric.manual
    missing = [item.grade_id for item in manual if item.grade_id not in header]
    if missing:
        raise MarkingError(f"grades.csv has no column {', '.join(missing)}: run course-grade again with this rubric")
    header = [c for c in header if c not in ("final_total", "final_max")]
    at = header.index("status") if "status" in header else len(header)
    header[at:at] = ["final_total", "final_max"]
    maximum = float(rows[0]["autograded_max"]) + sum(item.points for item in manual) if rows else 0.0
    for row in rows:
        given = [marks[item.grade_id].get(row["student"]) for item in manual]
        for item, mark in zip(manual, given):
            row[item.grade_id] = _num(mark.points) if mark else ""
        done = all(mark is not None for mark in given)
        row["final_total"] = _num(float(row["autograded_total"]) + sum(m.points for m in given)) if done else ""
        row["final_max"] = _num(maximum)
    return header


def merge(exercise: Exercise, out=print) -> list[dict[str, str]]:
    """Check every marks file, then write grades.csv, the feedback and the summary; the merged rows."""
    marks, errors, warnings = read_all_marks(exercise)
    if errors:
        raise MarkingError("the marks files have problems; nothing was written:\n" + "\n".join(errors))
    header, rows = read_csv(exercise.folder / "grades.csv")
    header = merged_rows(exercise, header, rows, marks)
    write_csv(exercise.folder / "grades.csv", header, rows)
    names = feedback_names([row["student"] for row in rows])
    for row in rows:
        path = exercise.folder / "feedback" / f"{names[row['student']]}.md"
        if not path.exists():
            warnings.append(f"{path} not found: run course-grade again to write it")
            continue
        student_marks = {gid: by_student.get(row["student"]) for gid, by_student in marks.items()}
        write_fresh(
            path,
            complete_feedback(path.read_text(), exercise.rubric, student_marks, row["final_total"], row["final_max"]),
        )
    write_feedback_html(exercise.folder / "feedback", list(names.values()))
    levels = [
        level_stats(
            item.grade_id,
            item.points,
            [level.points for level in item.levels],
            [_level_of(marks[item.grade_id].get(row["student"]), item) for row in rows],
        )
        for item in exercise.rubric.manual
    ]
    write_marked_summary(rows, exercise.rubric.autograded_points, levels, exercise.folder)
    unmarked = [
        f"{item.grade_id}: {row['student']}"
        for item in exercise.rubric.manual
        for row in rows
        if marks[item.grade_id].get(row["student"]) is None
    ]
    if unmarked:
        warnings.append(
            f"{len(unmarked)} answer(s) not marked yet, their final_total is empty: " + ", ".join(unmarked[:10])
        )
    for warning in warnings:
        out(f"course-mark: warning: {warning}")
    return rows


def _level_of(mark: Mark | None, item: ManualItem) -> float | None:
    if mark is None:
        return None
    return mark.level if item.levels else mark.points


# --------------------------------------------------------------------------- export


def lms_ids(exercise: Exercise, submissions: Path | None, lms: str, students: list[str]) -> dict[str, dict[str, str]]:
    """``{student: {lms, lms_id, lms_name}}`` from ``submissions/lms-ids.csv``, else from the marking key."""
    if submissions is not None:
        rows = read_lms_ids(submissions)
        source = f"{submissions}/lms-ids.csv"
    else:
        path = exercise.marking / "key.csv"
        rows = read_csv(path)[1] if path.exists() else []
        source = f"{path} (copied from course-collect's lms-ids.csv by course-mark pages)"
    ids = {row["student"]: row for row in rows if row.get("lms_id")}
    wrong = sorted(s for s in students if s in ids and ids[s].get("lms") != lms)
    if wrong:
        raise MarkingError(
            f"{', '.join(wrong)} were collected from {ids[wrong[0]]['lms']}, not {lms}; their ids do not fit"
        )
    missing = [s for s in students if s not in ids]
    if missing:
        raise MarkingError(
            f"no {lms} id for {', '.join(missing)} in {source}; collect the class with course-collect from the "
            f"{lms} export (it records the ids), pass --submissions SUBMISSIONS, or add the rows to lms-ids.csv"
        )
    return ids


def moodle_comment(row: dict[str, str], rubric: Rubric) -> str:
    parts = [f"Automatically graded: {row['autograded_total']} / {row['autograded_max']}"]
    parts += [f"{item.grade_id}: {row.get(item.grade_id) or '-'} / {item.points:g}" for item in rubric.manual]
    return "; ".join(parts) + f". Total: {row.get('final_total') or '-'} / {row.get('final_max', '')}."


def export(exercise: Exercise, lms: str, submissions: Path | None, column: str | None, out=print) -> Path:
    """Write ``export/<lms>.csv`` from the merged grades.csv; return its path."""
    header, rows = read_csv(exercise.folder / "grades.csv")
    if "final_total" not in header:
        raise MarkingError(f"{exercise.folder}/grades.csv has no final_total: run course-mark merge first")
    ids = lms_ids(exercise, submissions, lms, [row["student"] for row in rows])
    path = exercise.folder / "export" / f"{lms}.csv"
    path.parent.mkdir(exist_ok=True)
    if lms == "canvas":
        canvas_csv(path, rows, ids, column or exercise.rubric.title)
    else:
        moodle_csv(path, rows, ids, {row["student"]: moodle_comment(row, exercise.rubric) for row in rows})
    blank = [row["student"] for row in rows if not row.get("final_total")]
    if blank:
        out(f"course-mark: warning: {len(blank)} student(s) not fully marked, exported ungraded: {', '.join(blank)}")
    return path


# --------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="course-mark", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    course = argparse.ArgumentParser(add_help=False)
    course.add_argument("folder", type=Path, help="GRADING_OUT/NN_name, as course-grade wrote it")
    course.add_argument(
        "--course", type=Path, default=Path("."), help="folder holding solutions/ and rubrics/ (default: .)"
    )
    pages = commands.add_parser("pages", parents=[course], help="marking pages and marks files, per written answer")
    pages.add_argument("--submissions", type=Path, required=True, help="SUBMISSIONS/<student>/<NN_name>.ipynb")
    pages.add_argument("--names", action="store_true", help="show the students' names beside the pseudonyms")
    commands.add_parser("merge", parents=[course], help="check the marks, then write grades, feedback and summary")
    export_ = commands.add_parser("export", parents=[course], help="the gradebook as an LMS's CSV import")
    export_.add_argument("--lms", choices=LMS_FORMATS, required=True)
    export_.add_argument("--submissions", type=Path, help="read SUBMISSIONS/lms-ids.csv (default: marking/key.csv)")
    export_.add_argument("--column", help="Canvas: the assignment column, e.g. 'Exercise 01 (4567)' (default: title)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        exercise = load_exercise(args.folder, args.course)
        if args.command == "pages":
            if not exercise.rubric.manual:
                print(f"{exercise.name} has no written answers: nothing to mark; run course-mark merge")
                return 0
            for page in make_pages(exercise, args.submissions, args.names):
                print(f"Wrote {page}")
            print(f"Fill in {exercise.marking / 'marks'}/*.csv, then: course-mark merge {args.folder}")
        elif args.command == "merge":
            rows = merge(exercise, out=lambda line: print(line, file=sys.stderr))
            print(f"Merged the marks of {len(rows)} students into {args.folder}/grades.csv, feedback/ and summary.md")
        else:
            path = export(
                exercise, args.lms, args.submissions, args.column, out=lambda line: print(line, file=sys.stderr)
            )
            print(f"Wrote {path}")
    except MarkingError as error:
        print(f"course-mark: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
