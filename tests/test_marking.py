"""The instructor's week, end to end on generated classes: collect an LMS export, grade, mark the
written answers question by question, merge, hand back and export to Canvas and Moodle; and what
goes wrong on the way (a corrupt zip, a file that is not a notebook, two files for one student, a
marks file with an unknown pseudonym, level or points out of range).

Grading runs without the bubblewrap sandbox here (COURSE_GRADE_SANDBOX=off), for speed only:
tests/test_grading_sandbox.py covers the sandbox.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import zipfile
from pathlib import Path

import matplotlib.image
import nbformat
import pytest

from course_tools.cells import cell_role
from course_tools.collect import main as collect
from course_tools.grading.cli import main as grade
from course_tools.grading.report import feedback_names, write_reports
from course_tools.grading.runner import Assignment, CellResult, SubmissionResult
from course_tools.handback import markdown_to_html
from course_tools.marking import main as mark

ROOT = Path(__file__).resolve().parents[1]
EX = "01_performance_fundamentals"
SOLVED, UNSOLVED = ROOT / "solutions" / f"{EX}.ipynb", ROOT / "exercises" / f"{EX}.ipynb"
HOSTILE = "p99 < 200 ms & no <script>alert('x')</script> here"


def notebook(source: Path, answer: str | None = None) -> bytes:
    """``source`` with its written answer replaced by ``answer`` (kept if None)."""
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        if answer is not None and cell_role(cell) == "manual":
            cell.source = answer
    return nbformat.writes(nb).encode()


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def raw_rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))


def digests(folder: Path) -> dict[str, str]:
    """Every output file's digest, but the grader's journal (its lines come in the order grading ends)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.*"))
        if p.name != "graded.jsonl"
    }


def run_grade(subs: Path, out: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COURSE_GRADE_SANDBOX", "off")
        assert grade([str(subs), "--course", str(ROOT), "--out", str(out), "--jobs", "2"]) == 0


def fill(marks: Path, key: Path, by_student: dict[str, tuple[str, str, str]]) -> None:
    """Write the marks file as a marker would: level, points, comment per student (via the key)."""
    pseudonym = {row["student"]: row["pseudonym"] for row in rows(key)}
    table = rows(marks)
    for row in table:
        student = next(s for s, p in pseudonym.items() if p == row["pseudonym"])
        if student in by_student:
            row["level"], row["points"], row["comment"] = by_student[student]
    with marks.open("w", newline="") as f:
        writer = csv.DictWriter(f, ["pseudonym", "level", "points", "comment"])
        writer.writeheader()
        writer.writerows(table)


CANVAS = {
    f"doejane_101_1001_{EX}.ipynb": notebook(SOLVED, HOSTILE),
    f"smithjohn_102_1002_{EX}.ipynb": notebook(UNSOLVED),
    f"roeann_103_1003_{EX}.ipynb": notebook(SOLVED, "first try"),
    f"roeann_late_103_1004_{EX}-1.ipynb": notebook(
        UNSOLVED, "SLI: checkout latency at the load balancer; p99 < 300 ms."
    ),
    f"leezoe_104_1005_{EX}.ipynb": notebook(SOLVED),
    "leezoe_104_1006_notes.pdf": b"%PDF-1.4 not a notebook",
    f"twice_105_1007_{EX}.ipynb": notebook(SOLVED),
    f"twice_105_1008_{EX}.ipynb": notebook(UNSOLVED),
}


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    """A Canvas class collected and graded once: (root, SUBMISSIONS, GRADING_OUT/01_...)."""
    root = tmp_path_factory.mktemp("week")
    export = write_zip(root / "canvas.zip", CANVAS)
    before = export.read_bytes()
    assert collect([str(export), "--out", str(root / "subs"), "--course-root", str(ROOT)]) == 1
    assert export.read_bytes() == before
    run_grade(root / "subs", root / "grading")
    return root, root / "subs", root / "grading" / EX


def test_collect_reports_what_it_did_not_take_and_records_the_lms_ids(week):
    _, subs, _ = week
    report = (subs / "collect-report.md").read_text()
    assert sorted(p.name for p in subs.iterdir() if p.is_dir()) == ["doejane", "leezoe", "roeann", "smithjohn"]
    assert "not a notebook (.pdf)" in report
    assert report.count("2 files for one student and exercise") == 2
    assert "newest of 2 (Canvas -1)" in report
    assert [(r["student"], r["lms"], r["lms_id"], r["lms_name"]) for r in rows(subs / "lms-ids.csv")] == [
        ("doejane", "canvas", "101", "doejane"),
        ("leezoe", "canvas", "104", "leezoe"),
        ("roeann", "canvas", "103", "roeann"),
        ("smithjohn", "canvas", "102", "smithjohn"),
    ]


def test_a_corrupt_zip_stops_the_week_before_it_starts(tmp_path, capsys):
    good = write_zip(tmp_path / "good.zip", CANVAS).read_bytes()
    (tmp_path / "bad.zip").write_bytes(good[: len(good) // 2])
    assert collect([str(tmp_path / "bad.zip"), "--out", str(tmp_path / "subs"), "--course-root", str(ROOT)]) == 2
    assert "nothing was written" in capsys.readouterr().err and not (tmp_path / "subs").exists()


def _pages(grading: Path, subs: Path, *extra: str) -> None:
    assert mark(["pages", str(grading), "--submissions", str(subs), "--course", str(ROOT), *extra]) == 0


def test_the_week_on_a_canvas_class(week, tmp_path, capsys):
    root, subs, graded = week
    grading = tmp_path / "grading" / EX
    shutil.copytree(graded, grading)
    submitted = digests(subs)

    # pages: one per written answer, anonymous, self-contained, student text escaped
    _pages(grading, subs)
    page = (grading / "marking" / "pages" / "slo_answer.html").read_text()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page and "<script" not in page
    assert not any(marker in page for marker in ("src=", "href=", "<link", "@import", "url("))
    assert not any(name in page for name in ("doejane", "smithjohn", "roeann", "leezoe"))
    assert "Task (e): a latency SLO" in page and "All five elements are present" in page  # criterion, levels
    assert "SLI: checkout latency at the load balancer" in page and "(no answer)" in page
    key = rows(grading / "marking" / "key.csv")
    pseudonym = {row["student"]: row["pseudonym"] for row in key}
    assert sorted(pseudonym.values()) == ["S01", "S02", "S03", "S04"]
    assert {row["student"]: row["lms_id"] for row in key} == {
        "doejane": "101",
        "smithjohn": "102",
        "roeann": "103",
        "leezoe": "104",
    }
    marks = grading / "marking" / "marks" / "slo_answer.csv"
    prefilled = {row["pseudonym"]: row for row in rows(marks)}
    assert sorted(prefilled) == ["S01", "S02", "S03", "S04"]
    assert (prefilled[pseudonym["smithjohn"]]["level"], prefilled[pseudonym["smithjohn"]]["points"]) == ("0", "0")
    assert prefilled[pseudonym["doejane"]]["level"] == ""

    _pages(grading, subs, "--names")  # names on request; the key and the marks stay as they were
    assert f"{pseudonym['doejane']} (doejane)" in (grading / "marking" / "pages" / "slo_answer.html").read_text()
    assert rows(grading / "marking" / "key.csv") == key

    fill(marks, grading / "marking" / "key.csv", {
        "doejane": ("4", "", "Precise & complete"),
        "roeann": ("3", "3.5", "No error budget."),
        "leezoe": ("2", "", ""),
    })  # fmt: skip
    assert mark(["merge", str(grading), "--course", str(ROOT)]) == 0
    merged = {r["student"]: r for r in rows(grading / "grades.csv")}
    assert list(rows(grading / "grades.csv")[0])[-4:] == ["slo_answer", "final_total", "final_max", "status"]
    assert {
        s: (r["autograded_total"], r["slo_answer"], r["final_total"], r["final_max"]) for s, r in merged.items()
    } == {
        "doejane": ("16", "4", "20", "20"),
        "leezoe": ("16", "2", "18", "20"),
        "roeann": ("0", "3.5", "3.5", "20"),
        "smithjohn": ("0", "0", "0", "20"),
    }
    feedback = (grading / "feedback" / "doejane.md").read_text()
    assert "**Marked: 4 / 4 points** (level 4)" in feedback and "Comment: Precise & complete" in feedback
    assert "Level 4: All five elements are present" in feedback
    assert "**Total with the written answers: 20 / 20**" in feedback
    assert "Comment: No answer was found in your notebook." in (grading / "feedback" / "smithjohn.md").read_text()
    handed_back = (grading / "feedback" / "doejane.html").read_text()
    assert "Precise &amp; complete" in handed_back and "<script" not in handed_back and "src=" not in handed_back
    summary = (grading / "summary.md").read_text()
    assert "## Written answers: levels" in summary and "| 4 | 1 | 25% |" in summary and "| 3 | 1 | 25% |" in summary
    assert summary.index("## Written answers: levels") < summary.index("![score distribution")
    assert matplotlib.image.imread(grading / "summary.png").shape[1] == 1600  # a third panel: the levels

    after_first = digests(grading)
    assert mark(["merge", str(grading), "--course", str(ROOT)]) == 0
    assert digests(grading) == after_first  # merging twice changes nothing

    # re-grading rewrites grades.csv and feedback/, never marking/; merging again restores the marks
    run_grade(subs, grading.parent)
    assert "final_total" not in rows(grading / "grades.csv")[0]
    assert mark(["merge", str(grading), "--course", str(ROOT)]) == 0
    assert digests(grading) == after_first

    assert (
        mark(["export", str(grading), "--course", str(ROOT), "--lms", "canvas", "--column", "Exercise 01 (4567)"]) == 0
    )
    assert raw_rows(grading / "export" / "canvas.csv") == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Exercise 01 (4567)"],
        ["doejane", "101", "", "", "", "20"],
        ["leezoe", "104", "", "", "", "18"],
        ["roeann", "103", "", "", "", "3.5"],
        ["smithjohn", "102", "", "", "", "0"],
    ]
    capsys.readouterr()
    assert mark(["export", str(grading), "--course", str(ROOT), "--lms", "moodle"]) == 1
    assert "were collected from canvas, not moodle" in capsys.readouterr().err
    assert digests(subs) == submitted  # the grader never modifies a submission


def test_the_week_on_a_moodle_class(tmp_path):
    export = tmp_path / "moodle"
    for folder, data in {
        "Jane Doe_5001_assignsubmission_file_": notebook(SOLVED, "An SLO."),
        "Zoë Ünal_5002_assignsubmission_file_": notebook(UNSOLVED, "Another, with a comma."),
    }.items():
        (export / folder).mkdir(parents=True)
        (export / folder / f"{EX}.ipynb").write_bytes(data)
    assert collect([str(export), "--out", str(tmp_path / "subs"), "--course-root", str(ROOT)]) == 0
    run_grade(tmp_path / "subs", tmp_path / "grading")
    grading = tmp_path / "grading" / EX
    _pages(grading, tmp_path / "subs")
    fill(grading / "marking" / "marks" / "slo_answer.csv", grading / "marking" / "key.csv", {
        "Jane_Doe": ("3", "", "Good <b>start</b>"),
        "Zoe_Unal": ("1", "", ""),
    })  # fmt: skip
    assert mark(["merge", str(grading), "--course", str(ROOT)]) == 0
    assert mark(["export", str(grading), "--course", str(ROOT), "--lms", "moodle"]) == 0
    table = raw_rows(grading / "export" / "moodle.csv")
    assert table[0] == [
        "Identifier",
        "Full name",
        "Grade",
        "Maximum Grade",
        "Last modified (grade)",
        "Feedback comments",
    ]
    assert [row[:4] for row in table[1:]] == [
        ["Participant 5001", "Jane Doe", "19", "20"],
        ["Participant 5002", "Zoë Ünal", "1", "20"],
    ]
    assert table[1][5] == "Automatically graded: 16 / 16; slo_answer: 3 / 4. Total: 19 / 20."
    assert all(len(row[4]) == 19 for row in table[1:])  # 2025-01-31 12:00:00, as PHP's strtotime reads it


@pytest.mark.parametrize(
    "line, expected",
    [
        ("S99,4,,", "unknown pseudonym 'S99'"),
        ("{p},4,7,", "points 7 out of range: slo_answer is marked from 0 to 4"),
        ("{p},5,,", "unknown level '5' for slo_answer (levels: 4, 3, 2, 1, 0)"),
        ("{p},,2.5,", "give the level too"),
        ("{p},4,many,", "points 'many' is not a number"),
    ],
)
def test_a_bad_marks_file_names_file_and_line_and_writes_nothing(week, tmp_path, capsys, line, expected):
    _, subs, graded = week
    grading = tmp_path / EX
    shutil.copytree(graded, grading)
    _pages(grading, subs)
    marks = grading / "marking" / "marks" / "slo_answer.csv"
    lines = marks.read_text().splitlines()
    lines[3] = line.format(p=lines[3].split(",")[0])  # the third student's row, line 4 of the file
    marks.write_text("\n".join(lines) + "\n")
    before = digests(grading)
    capsys.readouterr()
    assert mark(["merge", str(grading), "--course", str(ROOT)]) == 1
    err = capsys.readouterr().err
    assert f"{marks}:4: " in err and expected in err and "nothing was written" in err
    assert digests(grading) == before


def test_merge_before_pages_and_export_before_merge_say_what_to_run(week, tmp_path, capsys):
    _, _, graded = week
    grading = tmp_path / EX
    shutil.copytree(graded, grading)
    assert mark(["merge", str(grading), "--course", str(ROOT)]) == 1
    assert "run course-mark pages first" in capsys.readouterr().err
    assert mark(["export", str(grading), "--course", str(ROOT), "--lms", "canvas"]) == 1
    assert "run course-mark merge first" in capsys.readouterr().err
    assert mark(["merge", str(tmp_path / "nowhere"), "--course", str(ROOT)]) == 1
    assert "run course-grade first" in capsys.readouterr().err


# --------------------------------------------------------------------------- unit tests


def test_feedback_names_are_unique_and_stable():
    students = ["Ana María", "Ana_María", "ana_maría", "bob"]
    names = feedback_names(students)
    assert names["bob"] == "bob" and len(set(n.casefold() for n in names.values())) == 4
    assert all(n.startswith(("Ana_María-", "ana_maría-")) for s, n in names.items() if s != "bob")
    assert feedback_names(list(reversed(students))) == names


def test_write_reports_keeps_students_whose_names_collide_apart(tmp_path):
    from course_tools.rubrics import parse_rubric

    rubric = parse_rubric(
        {
            "notebook": "99_x.ipynb",
            "title": "X",
            "autograded": [{"grade_id": "t", "points": 1, "description": "t"}],
            "manual": [],
        }
    )
    assignment = Assignment("99_x", nbformat.v4.new_notebook(), rubric, frozenset())
    results = [
        SubmissionResult(name, "99_x", "graded", {"t": CellResult("t", "passed", 1.0, 1.0)})
        for name in ("Ana María", "Ana_María")
    ]
    write_reports(results, assignment, tmp_path)
    files = sorted(p.name for p in (tmp_path / "feedback").iterdir())
    assert len(files) == 2 and all(f.startswith("Ana_María-") for f in files)
    assert {(tmp_path / "feedback" / f).read_text().split("Student: ")[1].split("  ")[0] for f in files} == {
        "Ana María",
        "Ana_María",
    }


def test_feedback_html_is_self_contained_and_escapes_everything():
    page = markdown_to_html(
        "# Feedback\n\n| check | result |\n|---|---|\n| a | passed |\n\n```\n<b>x</b>\n```\n\n"
        "[link](javascript:alert(1)) <iframe src='http://x'></iframe> **bold**",
        "t",
    )
    assert "<table><tr><th>check</th><th>result</th></tr><tr><td>a</td><td>passed</td></tr></table>" in page
    assert "<pre><code>&lt;b&gt;x&lt;/b&gt;</code></pre>" in page and "<strong>bold</strong>" in page
    assert "<iframe" not in page and "<a " not in page and "&lt;iframe src=&#x27;http://x&#x27;&gt;" in page


def test_parse_mark_with_and_without_levels():
    from course_tools.marking import Mark, parse_mark
    from course_tools.rubrics import Level, ManualItem

    levelled = ManualItem("q", 4, "c", (Level(4, "all"), Level(2, "half"), Level(0, "none")))
    assert parse_mark({"level": "2", "points": "", "comment": " ok "}, levelled) == Mark(2, 2, "ok")
    assert parse_mark({"level": "2.0", "points": "2.5", "comment": ""}, levelled) == Mark(2, 2.5, "")
    assert parse_mark({"level": "", "points": "4", "comment": ""}, levelled) == Mark(4, 4, "")
    assert parse_mark({"level": "", "points": "", "comment": "later"}, levelled) is None
    free = ManualItem("essay", 3, "c", ())  # from nbgrader metadata: no levels
    assert parse_mark({"level": "", "points": "1.5", "comment": ""}, free) == Mark(None, 1.5, "")
    assert "has no levels" in parse_mark({"level": "2", "points": "", "comment": ""}, free)
    assert "out of range" in parse_mark({"level": "", "points": "-1", "comment": ""}, free)
