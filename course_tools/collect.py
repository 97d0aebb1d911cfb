"""``course-collect EXPORT --out SUBMISSIONS``: an LMS export laid out for ``course-grade``.

EXPORT is a Canvas zip (``doejane_12345_67890_01_performance_fundamentals-1.ipynb``), a Moodle
folder or zip (``Jane Doe_123456_assignsubmission_file_/<notebook>``), or a plain folder of
``<student>.ipynb`` (then ``--exercise NN_name`` says which exercise). Each notebook is copied,
byte for byte, to ``SUBMISSIONS/<student>/<NN_name>.ipynb``; the export is only read.

Rules (``SUBMISSIONS/collect-report.md`` lists what was collected and what was not, and why):

- the exercise is the notebook's name (less Canvas's ``-N``), matched exactly against
  ``<course-root>/exercises/*.ipynb``; an unknown name is skipped with the closest exercise
  suggested. With ``--exercise`` every notebook in the export is taken as that exercise;
- a student's folder name keeps letters, digits, ``_``, ``-`` and ``.``; two students whose
  names become the same folder are both skipped, never merged;
- two files for one student and exercise: Canvas's highest ``-N`` (the latest resubmission) is
  kept and the report says so; with no such order, neither is kept;
- a notebook that is not valid JSON is copied anyway (the grader marks it unreadable) and noted;
- symbolic links are not followed; zip members with an absolute path or ``..`` are refused;
- ``SUBMISSIONS/lms-ids.csv`` records where each student came from: ``student`` (the folder),
  ``lms`` (canvas, moodle or plain), ``lms_id`` (Canvas's user id, or Moodle's participant id
  from the folder name: what each LMS's grade import matches on; empty for a plain folder) and
  ``lms_name`` (the name as the export gives it). ``course-mark export`` reads it;
- a corrupt zip stops everything before anything is written (exit status 2), and so does an
  ``--out`` that already holds submissions, unless ``--force`` (files are then overwritten,
  nothing is deleted). The exit status is 1 when something was not collected, else 0.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import os
import re
import shutil
import sys
import unicodedata
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

CANVAS = re.compile(r"(?P<name>.+?)(?:_late)?_(?P<uid>\d+)_(?P<sid>\d+)_(?P<file>.+)", re.IGNORECASE)
MOODLE = re.compile(r"(?P<name>.+?)_(?P<uid>\d+)_assign(?:submission|feedback)_[a-z]+_?")
RESUBMISSION = re.compile(r"(?P<stem>.+?)-(?P<n>\d+)")


class CollectError(Exception):
    """The export cannot be collected at all (corrupt zip, no exercises, --out in use)."""


def safe_name(raw: str) -> str:
    """A folder name from a student's name: ASCII letters, digits, ``_``, ``-`` and ``.`` only.

    >>> safe_name("Zoë Ünal"), safe_name("o'brien/../x"), safe_name("..."), safe_name("李")
    ('Zoe_Unal', 'o_brien_.._x', '', '')
    """
    ascii_name = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", ascii_name).strip("._-")


def split_canvas(name: str) -> tuple[str, str, str, int] | None:
    """Student, Canvas user id, uploaded file name less ``-N``, and N (0 if none); or None.

    >>> split_canvas("doejane_late_12345_67890_01_performance_fundamentals-2.ipynb")
    ('doejane', '12345', '01_performance_fundamentals.ipynb', 2)
    >>> split_canvas("notes.ipynb") is None
    True
    """
    match = CANVAS.fullmatch(name)
    if not match:
        return None
    file = PurePosixPath(match["file"])
    again = RESUBMISSION.fullmatch(file.stem)
    stem, n = (again["stem"], int(again["n"])) if again else (file.stem, 0)
    return match["name"], match["uid"], stem + file.suffix, n


@dataclass(frozen=True)
class Entry:
    """One file of the export: its path inside the export and how to read its bytes."""

    path: str
    read: Callable[[], bytes]
    source: Path | None = None  # the file on disk, for a folder export


@dataclass
class Candidate:
    """A notebook that belongs to one student and one exercise."""

    entry: Entry
    identity: str  # the student as the export names them (with the LMS id when there is one)
    folder: str
    exercise: str
    version: int = 0
    note: str = ""
    lms_id: str = ""  # Canvas user id or Moodle participant id; empty for a plain folder
    lms_name: str = ""  # the student's name as the export gives it


@dataclass
class Plan:
    """What to copy where, and what not to copy and why."""

    layout: str
    kept: list[Candidate] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _unsafe(member: str) -> bool:
    name = member.replace("\\", "/")
    return name.startswith("/") or bool(re.match(r"[A-Za-z]:", name)) or ".." in PurePosixPath(name).parts


def list_zip(archive: zipfile.ZipFile) -> tuple[list[Entry], list[tuple[str, str]]]:
    """The zip's files, and the members refused (unsafe paths, symbolic links). Raises on corruption."""
    bad = archive.testzip()  # reads every member and checks its CRC
    if bad is not None:
        raise CollectError(f"corrupt zip: member {bad!r} fails its checksum; nothing was written")
    entries, refused = [], []
    for info in archive.infolist():
        if info.is_dir():
            continue
        if _unsafe(info.filename):
            refused.append((info.filename, "unsafe path in the zip (absolute or `..`): refused"))
        elif (info.external_attr >> 16) & 0o170000 == 0o120000:
            refused.append((info.filename, "symbolic link in the zip: not followed"))
        else:
            entries.append(Entry(info.filename, lambda info=info: archive.read(info)))
    return entries, refused


def list_folder(root: Path) -> tuple[list[Entry], list[tuple[str, str]]]:
    """The folder's files, and the symbolic links it holds (never followed)."""
    entries, refused = [], []
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in sorted(dirs + files):
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            if path.is_symlink():
                refused.append((relative, "symbolic link: not followed"))
            elif name in files:
                entries.append(Entry(relative, path.read_bytes, path))
    return entries, refused


def _strip_wrapper(entries: list[Entry]) -> list[Entry]:
    """Drop one folder that wraps the whole export (unless it is a Moodle student's folder)."""
    real = [e for e in entries if not _is_junk(e.path)]
    tops = {e.path.split("/")[0] for e in real}
    if len(tops) != 1 or not all("/" in e.path for e in real) or MOODLE.fullmatch(top := tops.pop()):
        return entries
    return [Entry(e.path[len(top) + 1 :], e.read, e.source) if not _is_junk(e.path) else e for e in entries]


def detect_layout(paths: list[str]) -> str:
    """``moodle``, ``canvas`` or ``plain``, from the names in the export.

    >>> detect_layout(["Jane Doe_1_assignsubmission_file_/a.ipynb"]), detect_layout(["jane.ipynb"])
    ('moodle', 'plain')
    """
    if any("/" in p and MOODLE.fullmatch(p.split("/")[0]) for p in paths):
        return "moodle"
    if any("/" not in p and CANVAS.fullmatch(p) for p in paths):
        return "canvas"
    return "plain"


def _student(entry: Entry, layout: str) -> tuple[str, str, str, int, str, str] | str:
    """(identity, folder, file name, version, name, LMS id), or why the file names no student."""
    parts = entry.path.split("/")
    fallback, uid = "", ""
    if layout == "canvas":
        split = split_canvas(parts[0]) if len(parts) == 1 else None
        if split is None:
            return "not named like a Canvas submission (student_userid_submissionid_file)"
        name, uid, file, version = split
        identity, fallback = f"{name}_{uid}", f"student_{uid}"
    elif layout == "moodle":
        match = MOODLE.fullmatch(parts[0]) if len(parts) > 1 else None
        if match is None:
            return "not in a Moodle student folder (Name_id_assignsubmission_file_)"
        name, file, version, uid = match["name"], parts[-1], 0, match["uid"]
        identity, fallback = f"{name}_{match['uid']}", f"student_{match['uid']}"
    else:
        if len(parts) > 1:
            return "inside a sub-folder of a plain export (expected <student>.ipynb at the top)"
        name = identity = PurePosixPath(parts[0]).stem
        file, version = parts[0], 0
    folder = safe_name(name) or fallback
    if not folder:
        return f"no usable character in the student name {name!r}"
    return identity, folder, file, version, name, uid


def _suggest(name: str, exercises: list[str]) -> str:
    """The closest exercise, as a hint (never used in its place).

    >>> _suggest("01_performance", ["01_performance_fundamentals", "04_caching"])
    '; did you mean 01_performance_fundamentals?'
    """
    close = difflib.get_close_matches(name, exercises, n=1, cutoff=0.4)
    return f"; did you mean {close[0]}?" if close else "; no exercise is close"


def plan(entries: list[Entry], exercises: list[str], exercise: str | None = None) -> Plan:
    """Decide, file by file, what is copied where; nothing is read or written but names."""
    entries = _strip_wrapper(entries)
    result = Plan(detect_layout([e.path for e in entries if not _is_junk(e.path)]))
    candidates: list[Candidate] = []
    for entry in entries:
        suffix = PurePosixPath(entry.path).suffix
        who = None if _is_junk(entry.path) or suffix.lower() != ".ipynb" else _student(entry, result.layout)
        if who is None:
            reason = "system file" if _is_junk(entry.path) else f"not a notebook ({suffix or 'no extension'})"
            result.skipped.append((entry.path, reason))
        elif isinstance(who, str):
            result.skipped.append((entry.path, who))
        elif exercise is None and result.layout == "plain":
            result.skipped.append((entry.path, "a plain folder of <student>.ipynb needs --exercise NN_name"))
        else:
            identity, folder, file, version, lms_name, lms_id = who
            name = exercise or PurePosixPath(file).stem
            if name in exercises:
                candidates.append(Candidate(entry, identity, folder, name, version, "", lms_id, lms_name))
            else:
                result.skipped.append((entry.path, f"unknown exercise {name!r}{_suggest(name, exercises)}"))

    identities: dict[str, set[str]] = defaultdict(set)
    for c in candidates:
        identities[c.folder].add(c.identity)
    groups: dict[tuple[str, str], list[Candidate]] = defaultdict(list)
    for c in candidates:
        if len(identities[c.folder]) > 1:
            others = ", ".join(repr(i) for i in sorted(identities[c.folder]))
            result.skipped.append((c.entry.path, f"students {others} would share the folder {c.folder}: not merged"))
        else:
            groups[c.folder, c.exercise].append(c)
    for group in groups.values():
        group.sort(key=lambda c: c.version, reverse=True)
        newest, *older = group
        if older and newest.version == older[0].version:
            paths = ", ".join(c.entry.path for c in group)
            for c in group:
                result.skipped.append((c.entry.path, f"{len(group)} files for one student and exercise: {paths}"))
            continue
        if older:
            newest.note = f"newest of {len(group)} (Canvas -{newest.version}); older ones skipped"
            result.skipped += [(c.entry.path, f"older resubmission; kept {newest.entry.path}") for c in older]
        result.kept.append(newest)
    result.kept.sort(key=lambda c: (c.folder, c.exercise))
    return result


def _is_junk(path: str) -> bool:
    return path.startswith("__MACOSX/") or any(part.startswith(".") for part in path.split("/"))


def _has_submissions(out: Path) -> bool:
    return out.is_dir() and (any(out.glob("*/*.ipynb")) or (out / "collect-report.md").exists())


def write(result: Plan, contents: list[bytes], out: Path, export: Path) -> str:
    """Copy the kept notebooks (``contents``, read beforehand) into ``out``, write the report, return it."""
    for c, data in zip(result.kept, contents):
        try:
            json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            c.note = "; ".join(filter(None, [c.note, "not valid JSON: copied, the grader will mark it unreadable"]))
    for c, data in zip(result.kept, contents):
        target = out / c.folder / f"{c.exercise}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        if c.entry.source is not None:
            shutil.copy2(c.entry.source, target)  # keeps the upload's modification time
        else:
            target.write_bytes(data)
    report = _report(result, out, export)
    out.mkdir(parents=True, exist_ok=True)
    (out / "collect-report.md").write_text(report)
    write_lms_ids(result, out)
    return report


LMS_IDS = "lms-ids.csv"
LMS_ID_COLUMNS = ["student", "lms", "lms_id", "lms_name"]


def write_lms_ids(result: Plan, out: Path) -> None:
    """``out/lms-ids.csv``: per student folder, the LMS and the id its grade import matches on.

    Students already in the file (an earlier collect, with ``--force``) are kept unless collected again.
    """
    rows = {row["student"]: row for row in read_lms_ids(out)}
    lms = result.layout.split()[0]
    for c in result.kept:
        rows[c.folder] = {"student": c.folder, "lms": lms, "lms_id": c.lms_id, "lms_name": c.lms_name}
    with (out / LMS_IDS).open("w", newline="") as f:
        writer = csv.DictWriter(f, LMS_ID_COLUMNS)
        writer.writeheader()
        writer.writerows(rows[student] for student in sorted(rows))


def read_lms_ids(submissions: Path) -> list[dict[str, str]]:
    """The rows of ``submissions/lms-ids.csv``; none if there is no such file."""
    path = submissions / LMS_IDS
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _report(result: Plan, out: Path, export: Path) -> str:
    students = len({c.folder for c in result.kept})
    lines = [
        f"# Collected submissions\n\nFrom `{export}` ({result.layout} layout) into `{out}`: {len(result.kept)} "
        f"notebook(s) for {students} student(s); {len(result.skipped)} file(s) not collected.",
        "\n## Collected\n\n| student | exercise | from | note |\n|---|---|---|---|",
        *(f"| {c.folder} | {c.exercise} | {_cell(c.entry.path)} | {_cell(c.note)} |" for c in result.kept),
        "\n## Not collected\n\n| file | reason |\n|---|---|",
        *(f"| {_cell(path)} | {_cell(reason)} |" for path, reason in sorted(result.skipped)),
    ]
    return "\n".join(lines) + "\n"


def collect(
    export: Path, out: Path, course_root: Path = Path("."), exercise: str | None = None, force: bool = False
) -> Plan:
    """Collect ``export`` into ``out``; raise :class:`CollectError` before writing if it cannot."""
    exercises = sorted(p.stem for p in (course_root / "exercises").glob("*.ipynb"))
    if not exercises:
        raise CollectError(f"no exercises/*.ipynb in {course_root}; pass --course-root")
    if exercise is not None and exercise not in exercises:
        raise CollectError(f"--exercise {exercise} is not in exercises/{_suggest(exercise, exercises)}")
    if _has_submissions(out) and not force:
        raise CollectError(f"{out} already holds submissions; pass --force to write over them")
    if export.is_dir():
        if out.resolve().is_relative_to(export.resolve()):
            raise CollectError(f"--out {out} is inside the export {export}; choose a folder outside it")
        entries, refused = list_folder(export)
        result = plan(entries, exercises, exercise)
        contents = [c.entry.read() for c in result.kept]
    else:
        try:
            with zipfile.ZipFile(export) as archive:
                entries, refused = list_zip(archive)
                result = plan(entries, exercises, exercise)
                result.layout += " zip"
                contents = [c.entry.read() for c in result.kept]  # read everything before writing anything
        except FileNotFoundError as error:
            raise CollectError(f"{export} does not exist") from error
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError) as error:
            raise CollectError(f"{export} is not a readable zip ({error}); nothing was written") from error
    result.skipped += refused
    print(write(result, contents, out, export), end="")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="course-collect", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("export", type=Path, help="the LMS export: a zip or a folder")
    parser.add_argument("--out", type=Path, required=True, help="the SUBMISSIONS folder to write")
    parser.add_argument("--exercise", metavar="NN_name", help="every notebook in the export is this exercise")
    parser.add_argument("--course-root", type=Path, default=Path("."), help="folder holding exercises/ (default: .)")
    parser.add_argument("--force", action="store_true", help="write into an --out that already holds submissions")
    args = parser.parse_args(argv)
    try:
        result = collect(args.export, args.out, args.course_root, args.exercise, args.force)
    except CollectError as error:
        print(f"course-collect: error: {error}", file=sys.stderr)
        return 2
    return 1 if result.skipped else 0


if __name__ == "__main__":
    sys.exit(main())
