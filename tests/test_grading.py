"""The class grader on generated submissions: right points, hostile cases contained, originals kept."""

from __future__ import annotations

import csv
import hashlib
import time
from pathlib import Path

import nbformat
import pytest
from grading_fixtures import ADD, CLASS, NAME, _student, make_course, solution_notebook, write_class

from course_tools.cells import grade_id
from course_tools.grading.assemble import assemble
from course_tools.grading.cli import grade_class, main
from course_tools.grading.nbval_guard import strip_ansi
from course_tools.grading.output import UnsafeOutput
from course_tools.grading.report import write_reports
from course_tools.grading.runner import FAILED_VISIBLE, Assignment, Limits, grade_submission, read_submission

LIMITS = Limits(cell_timeout=5, memory_mb=1024, submission_timeout=120)


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("course"))
    submissions = root / "submissions"
    write_class(submissions)
    before = _digests(submissions)
    assignment = Assignment.load(NAME, root / "solutions", root / "rubrics")
    lines: list[str] = []
    results = grade_class(submissions, assignment, root / "out", LIMITS, jobs=2, progress=lines.append)
    return {
        "root": root,
        "submissions": submissions,
        "before": before,
        "assignment": assignment,
        "results": {r.student: r for r in results},
        "progress": lines,
        "out": root / "out" / NAME,
    }


@pytest.mark.parametrize("student", sorted(CLASS))
def test_points_and_status(graded, student):
    _, points, status = CLASS[student]
    result = graded["results"][student]
    assert result.status.startswith(status), result.status
    assert result.total == points, {g: (c.outcome, c.message) for g, c in result.cells.items()}


def test_the_batch_finishes_and_shows_progress(graded):
    assert set(graded["results"]) == set(CLASS)
    assert len(graded["progress"]) == len(CLASS) + 1
    assert graded["progress"][0].startswith("reference solution: values for 2 trusted checks")
    assert graded["progress"][-1].startswith(f"[{len(CLASS)}/{len(CLASS)}]")


def test_originals_are_byte_identical(graded):
    assert _digests(graded["submissions"]) == graded["before"]


def test_tampered_tests_are_restored(graded):
    cells = graded["results"]["dave"].cells
    assert cells["add_visible"].outcome == "passed"  # deleted, put back
    assert cells["add_hidden"].outcome == "passed"  # moved, put back in place
    assert cells["mul_visible"].outcome == "failed"  # edited, skipped, duplicated: canonical again


def test_hidden_showtraceback_does_not_hide_failures(graded):
    cells = graded["results"]["eve"].cells
    assert cells["add_visible"].outcome == "failed"
    assert cells["add_visible"].message == FAILED_VISIBLE


def test_after_a_timeout_cells_are_graded_on_what_they_did(graded):
    cells = graded["results"]["frank"].cells
    assert [cells[g].outcome for g in ("add_visible", "add_hidden", "mul_visible")] == ["failed", "failed", "passed"]


def test_a_dead_kernel_fails_the_rest(graded):
    cells = graded["results"]["grace"].cells
    assert cells["add_visible"].outcome == "passed" and cells["mul_visible"].outcome == "failed"
    assert cells["mul_visible"].message == "This check could not run: the kernel had died in an earlier cell."
    assert "the kernel died" in graded["results"]["grace"].status


@pytest.mark.parametrize(
    "student, note",
    [
        ("frank", "a cell ran past the 5 s limit"),
        ("ivan", "a cell ran out of memory (limit 1024 MB)"),
        ("heidi", "a cell called sys.exit()"),
    ],
)
def test_the_status_says_what_went_wrong_in_the_run(graded, student, note):
    assert note in graded["results"][student].status
    assert "graded; " in (graded["out"] / "grades.csv").read_text().split(student, 1)[1].splitlines()[0]


def test_a_dead_kernel_is_noticed_at_once(tmp_path):
    root = make_course(tmp_path)
    crash = root / "crash.ipynb"
    nb = nbformat.read(root / "solutions" / f"{NAME}.ipynb", as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell("import os\nos._exit(1)"))
    nbformat.write(nb, crash)
    assignment = Assignment.load(NAME, root / "solutions", root / "rubrics")
    start = time.monotonic()
    result = grade_submission("crash", crash, assignment, Limits(cell_timeout=120, memory_mb=1024))
    assert time.monotonic() - start < 60, "waited for the cell timeout instead of noticing the dead kernel"
    assert result.total == 0


def test_memory_bomb_costs_only_its_cell(graded):
    cells = graded["results"]["ivan"].cells
    assert cells["add_visible"].outcome == "passed" and cells["mul_visible"].outcome == "failed"


def test_csv_has_a_row_per_student_and_the_manual_column(graded):
    rows = list(csv.DictReader((graded["out"] / "grades.csv").open()))
    assert [r["student"] for r in rows] == sorted(CLASS)
    assert list(rows[0]) == [
        "student",
        "add_visible",
        "add_hidden",
        "mul_visible",
        "autograded_total",
        "autograded_max",
        "explain",
        "status",
    ]
    alice = next(r for r in rows if r["student"] == "alice")
    assert (alice["autograded_total"], alice["autograded_max"], alice["explain"]) == ("10", "10", "")


def test_feedback_is_plain_and_keeps_hidden_tests_hidden(graded):
    hidden_source = next(c.source for c in solution_notebook().cells if grade_id(c) == "add_hidden")
    secret_lines = [line for line in hidden_source.splitlines() if line.startswith("assert")]
    for student in CLASS:
        text = (graded["out"] / "feedback" / f"{student}.md").read_text()
        assert "\x1b[" not in text
        assert not any(line in text for line in secret_lines), student
        assert "1000001" not in text
    # only the grader's words: no text from the kernel (a student's code chooses that text)
    assert FAILED_VISIBLE in (graded["out"] / "feedback" / "eve.md").read_text()
    assert "NotImplementedError" not in (graded["out"] / "feedback" / "carol.md").read_text()
    assert "Order does not matter." in (graded["out"] / "feedback" / "alice.md").read_text()


def test_summary_is_written(graded):
    summary = (graded["out"] / "summary.md").read_text()
    assert "| add_visible | 2 |" in summary and "nina" in summary
    assert (graded["out"] / "summary.png").stat().st_size > 1000


def test_regrading_gives_the_same_grades(graded, tmp_path):
    again = grade_class(graded["submissions"], graded["assignment"], tmp_path, LIMITS, jobs=2, progress=lambda _: None)
    assert {r.student: r.total for r in again} == {s: r.total for s, r in graded["results"].items()}
    assert (tmp_path / NAME / "grades.csv").read_text() == (graded["out"] / "grades.csv").read_text()


def test_assemble_restores_one_canonical_copy_in_place():
    from grading_fixtures import _tampered

    from course_tools.authoring import make_grading_template

    canonical = make_grading_template(solution_notebook())
    graded = assemble(_tampered(), canonical)
    ids = [grade_id(c) for c in graded.cells]
    for test_id in ("add_visible", "add_hidden", "mul_visible"):
        assert ids.count(test_id) == 1
        restored = next(c for c in graded.cells if grade_id(c) == test_id)
        original = next(c for c in canonical.cells if grade_id(c) == test_id)
        assert restored.source == original.source and restored.metadata == original.metadata
    assert ids.index("add_answer") < ids.index("add_visible") < ids.index("add_hidden") < ids.index("mul_answer")
    assert ids.index("mul_answer") < ids.index("mul_visible")


def test_assemble_keeps_cells_the_student_added_before_the_test():
    from course_tools.authoring import make_grading_template

    canonical = make_grading_template(solution_notebook())
    nb = nbformat.v4.new_notebook(cells=[c for c in canonical.cells])
    helper = nbformat.v4.new_code_cell("def helper():\n    return 1")
    nb.cells.insert([grade_id(c) for c in nb.cells].index("add_answer") + 1, helper)
    ids = [c.get("id") for c in assemble(nb, canonical).cells]
    visible = next(c.get("id") for c in canonical.cells if grade_id(c) == "add_visible")
    assert ids.index(helper.id) < ids.index(visible)


@pytest.mark.parametrize(
    "content, status",
    [
        (b"", "unreadable: the file is empty"),
        (b"\xff\xfe not utf8", "unreadable: not valid JSON"),
        (b'{"nbformat": 4}', "unreadable: JSON, but not a Jupyter notebook"),
        (b'{"nbformat": 5, "cells": []}', "unreadable: nbformat 5"),
    ],
)
def test_read_submission_explains_broken_files(tmp_path, content, status):
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    nb, message = read_submission(path)
    assert nb is None and message.startswith(status)


def test_strip_ansi():
    assert strip_ansi("\x1b[0;31mAssertionError\x1b[0m: boom") == "AssertionError: boom"


def test_cli_reports_a_wrong_folder_clearly(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(tmp_path / "nope")])
    assert "expected SUBMISSIONS/<student>/<NN_name>.ipynb" in capsys.readouterr().err


def test_reports_never_write_through_a_planted_link(graded, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    out = tmp_path / "out"
    (out / "feedback").mkdir(parents=True)
    (out / "grades.csv").symlink_to(victim)
    (out / "feedback" / "alice.md").symlink_to(victim)
    write_reports(list(graded["results"].values()), graded["assignment"], out)
    assert victim.read_text() == "untouched"
    assert not (out / "grades.csv").is_symlink() and "alice" in (out / "grades.csv").read_text()
    assert not (out / "feedback" / "alice.md").is_symlink()


def test_a_linked_output_folder_is_refused(graded, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "feedback").symlink_to(elsewhere)
    with pytest.raises(UnsafeOutput, match="is a symbolic link"):
        write_reports(list(graded["results"].values()), graded["assignment"], tmp_path / "out")
    assert list(elsewhere.iterdir()) == []


def test_a_notebook_stopped_at_its_deadline_keeps_what_ran_before(tmp_path):
    """A cell that ignores the interrupt runs into the notebook's deadline; the checks above it keep
    their points, the ones after it fail on the killed kernel."""
    root = make_course(tmp_path / "course")
    stuck = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.1)"
    path = tmp_path / "stuck.ipynb"
    nbformat.write(_student({"add_answer": ADD, "mul_answer": stuck}), path)
    assignment = Assignment.load(NAME, root / "solutions", root / "rubrics")
    # the deadline (10 s) comes before nbval gives up on the cell (5 s, then 10 s waiting for output)
    result = grade_submission("stuck", path, assignment, Limits(cell_timeout=5, submission_timeout=10))
    assert "stopped after 10 s for the whole notebook" in result.status
    assert {g: c.outcome for g, c in result.cells.items()} == {
        "add_visible": "passed",
        "add_hidden": "passed",
        "mul_visible": "failed",
    }
