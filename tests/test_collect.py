"""course-collect on generated Canvas, Moodle and plain exports, good and bad."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course_tools.collect import main

ROOT = Path(__file__).resolve().parents[1]
EX1, EX2 = "01_performance_fundamentals", "02_profiling_and_benchmarking"


def notebook(text: str) -> bytes:
    """A small, valid notebook whose code cell says ``text`` (so each file's bytes differ)."""
    return nbformat.writes(new_notebook(cells=[new_code_cell(f"x = {text!r}", id="cell")])).encode()


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def digests(path: Path) -> dict[str, str]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def run(export: Path, out: Path, *args: str) -> tuple[int, str]:
    before = digests(export)
    status = main([str(export), "--out", str(out), "--course-root", str(ROOT), *args])
    assert digests(export) == before, "the export was changed"
    report = (out / "collect-report.md").read_text() if (out / "collect-report.md").exists() else ""
    return status, report


def collected(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.glob("*/*.ipynb"))}


CANVAS = {
    f"doejane_12345_67890_{EX1}.ipynb": notebook("jane"),
    f"smithjohn_22222_44444_{EX1}.ipynb": notebook("john, first"),
    f"smithjohn_late_22222_44445_{EX1}-1.ipynb": notebook("john, again"),
    f"roeann_55555_66666_{EX2}.ipynb": notebook("ann"),
}


def test_canvas_zip(tmp_path):
    status, report = run(write_zip(tmp_path / "canvas.zip", CANVAS), tmp_path / "subs")
    assert status == 1  # John's first submission was not collected
    assert collected(tmp_path / "subs") == {
        f"doejane/{EX1}.ipynb": notebook("jane"),
        f"roeann/{EX2}.ipynb": notebook("ann"),
        f"smithjohn/{EX1}.ipynb": notebook("john, again"),
    }
    assert "canvas zip" in report and "newest of 2 (Canvas -1)" in report
    assert f"older resubmission; kept smithjohn_late_22222_44445_{EX1}-1.ipynb" in report


MOODLE = {
    f"Jane Doe_123456_assignsubmission_file_/{EX1}.ipynb": notebook("jane"),
    f"Zoë Ünal_222_assignsubmission_file_/{EX1}.ipynb": notebook("zoe"),
    "Zoë Ünal_222_assignsubmission_onlinetext_/onlinetext.html": b"<p>hi</p>",
}


def test_moodle_folder(tmp_path):
    status, report = run(write_tree(tmp_path / "export", MOODLE), tmp_path / "subs")
    assert collected(tmp_path / "subs") == {
        f"Jane_Doe/{EX1}.ipynb": notebook("jane"),
        f"Zoe_Unal/{EX1}.ipynb": notebook("zoe"),
    }
    assert status == 1 and "not a notebook (.html)" in report and "moodle layout" in report


def test_moodle_zip_in_a_wrapper_folder(tmp_path):
    export = write_zip(tmp_path / "moodle.zip", {f"Assignment 1/{k}": v for k, v in MOODLE.items()})
    run(export, tmp_path / "subs")
    assert sorted(collected(tmp_path / "subs")) == [f"Jane_Doe/{EX1}.ipynb", f"Zoe_Unal/{EX1}.ipynb"]


def test_moodle_with_exercise_takes_any_name_but_not_two(tmp_path):
    export = write_tree(
        tmp_path / "export",
        {
            "Jane Doe_1_assignsubmission_file_/my work.ipynb": notebook("jane"),
            "Ann Roe_2_assignsubmission_file_/a.ipynb": notebook("a"),
            "Ann Roe_2_assignsubmission_file_/b.ipynb": notebook("b"),
        },
    )
    status, report = run(export, tmp_path / "subs", "--exercise", EX2)
    assert collected(tmp_path / "subs") == {f"Jane_Doe/{EX2}.ipynb": notebook("jane")}
    assert status == 1 and report.count("2 files for one student and exercise") == 2


def test_plain_folder_needs_exercise(tmp_path):
    export = write_tree(tmp_path / "export", {"alice.ipynb": notebook("a"), "bob smith.ipynb": notebook("b")})
    status, report = run(export, tmp_path / "none")
    assert status == 1 and collected(tmp_path / "none") == {} and "needs --exercise" in report
    assert run(export, tmp_path / "subs", "--exercise", EX1)[0] == 0
    assert collected(tmp_path / "subs") == {
        f"alice/{EX1}.ipynb": notebook("a"),
        f"bob_smith/{EX1}.ipynb": notebook("b"),
    }


def test_unknown_exercise_is_suggested_not_guessed(tmp_path):
    export = write_zip(tmp_path / "c.zip", {"doejane_1_2_01_performance_fundamentls.ipynb": notebook("j")})
    status, report = run(export, tmp_path / "subs")
    assert status == 1 and collected(tmp_path / "subs") == {}
    assert f"unknown exercise '01_performance_fundamentls'; did you mean {EX1}?" in report


def test_an_unknown_exercise_option_is_an_error(tmp_path, capsys):
    export = write_tree(tmp_path / "export", {"alice.ipynb": notebook("a")})
    assert main([str(export), "--out", str(tmp_path / "subs"), "--course-root", str(ROOT), "--exercise", "01"]) == 2
    assert "not in exercises/" in capsys.readouterr().err and not (tmp_path / "subs").exists()


def test_names_that_become_one_folder_are_both_reported(tmp_path):
    export = write_tree(tmp_path / "export", {"jane doe.ipynb": notebook("1"), "jane_doe.ipynb": notebook("2")})
    status, report = run(export, tmp_path / "subs", "--exercise", EX1)
    assert status == 1 and collected(tmp_path / "subs") == {}
    assert report.count("would share the folder jane_doe: not merged") == 2


def test_non_notebooks_and_invalid_json(tmp_path):
    export = write_tree(
        tmp_path / "export",
        {"alice.ipynb": b"{ not json", "bob.py": b"print()", ".DS_Store": b"\0", "carol.ipynb": notebook("c")},
    )
    status, report = run(export, tmp_path / "subs", "--exercise", EX1)
    assert collected(tmp_path / "subs")[f"alice/{EX1}.ipynb"] == b"{ not json"  # copied all the same
    assert "not valid JSON: copied, the grader will mark it unreadable" in report
    assert "not a notebook (.py)" in report and "system file" in report and status == 1


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"this is not a zip at all" * 10,
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: data[:60] + bytes(b ^ 0xFF for b in data[60:80]) + data[80:],  # a member's data altered
    ],
    ids=["garbage", "truncated", "bad-crc"],
)
def test_a_corrupt_zip_writes_nothing(tmp_path, capsys, damage):
    good = write_zip(tmp_path / "good.zip", CANVAS).read_bytes()
    export = tmp_path / "bad.zip"
    export.write_bytes(damage(good))
    status, _ = run(export, tmp_path / "subs")
    assert status == 2 and not (tmp_path / "subs").exists()
    assert "nothing was written" in capsys.readouterr().err


def test_zip_slip_members_are_refused(tmp_path):
    export = write_zip(
        tmp_path / "c.zip",
        {f"../evil_1_2_{EX1}.ipynb": notebook("e"), f"/abs_1_2_{EX1}.ipynb": notebook("e"), **CANVAS},
    )
    status, report = run(export, tmp_path / "out" / "subs")
    assert report.count("unsafe path in the zip") == 2 and status == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["subs"]
    assert not any("evil" in p.name or "abs" in p.name for p in (tmp_path / "out").rglob("*"))


def test_symbolic_links_are_not_followed(tmp_path):
    outside = write_tree(tmp_path / "outside", {"secret.ipynb": notebook("secret")})
    export = write_tree(tmp_path / "export", {"alice.ipynb": notebook("a")})
    os.symlink(outside / "secret.ipynb", export / "mallory.ipynb")
    os.symlink(outside, export / "Eve_9_assignsubmission_file_")
    status, report = run(export, tmp_path / "subs", "--exercise", EX1)
    assert collected(tmp_path / "subs") == {f"alice/{EX1}.ipynb": notebook("a")}
    assert report.count("symbolic link: not followed") == 2 and status == 1


def test_an_out_folder_with_submissions_needs_force(tmp_path, capsys):
    export = write_tree(tmp_path / "export", {"alice.ipynb": notebook("new")})
    out = write_tree(tmp_path / "subs", {f"alice/{EX1}.ipynb": notebook("old"), f"bob/{EX1}.ipynb": notebook("b")})
    assert run(export, out, "--exercise", EX1)[0] == 2
    assert "--force" in capsys.readouterr().err and collected(out)[f"alice/{EX1}.ipynb"] == notebook("old")
    assert run(export, out, "--exercise", EX1, "--force")[0] == 0
    assert collected(out) == {f"alice/{EX1}.ipynb": notebook("new"), f"bob/{EX1}.ipynb": notebook("b")}


def test_out_inside_the_export_is_refused(tmp_path):
    export = write_tree(tmp_path / "export", {"alice.ipynb": notebook("a")})
    assert main([str(export), "--out", str(export / "subs"), "--course-root", str(ROOT), "--exercise", EX1]) == 2
    assert not (export / "subs").exists()


def test_course_grade_accepts_the_collected_layout(tmp_path):
    from course_tools.grading.cli import main as grade

    export = tmp_path / "export"
    export.mkdir()
    shutil.copy(ROOT / "solutions" / f"{EX1}.ipynb", export / "alice.ipynb")
    assert run(export, tmp_path / "subs", "--exercise", EX1)[0] == 0
    assert grade([str(tmp_path / "subs"), "--course", str(ROOT), "--out", str(tmp_path / "grading")]) == 0
    with open(tmp_path / "grading" / EX1 / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["student"], r["status"]) for r in rows] == [("alice", "graded")]
    assert float(rows[0]["autograded_total"]) == float(rows[0]["autograded_max"]) > 0
