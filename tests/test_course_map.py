"""The course metadata is written once and everything else follows it.

The modules and their titles live in ``course_lib.course_map.MODULES``; each lesson's module,
title, time, questions and objectives live in its notebook metadata (``metadata.course``). The
start-here map, the site's table of contents, README's course table and each lesson's header cell
are generated from them; here we check the data is well formed, that the generated copies are in
step (the fix is ``make course-map``), and that no second copy of the module list creeps back."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from course_lib.course_map import (
    MODULES,
    WITHOUT_LESSON,
    CourseMapError,
    course_map,
    course_root,
    course_table,
    read_exercise,
    read_lesson,
)
from course_tools import course_views

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def write_lesson(path: Path, cells: list | None = None, **course) -> Path:
    """A small lesson at ``path`` with complete ``metadata.course`` (``course`` overrides keys)."""
    number = path.name[:2]
    metadata = {
        "module": number,
        "title": f"Lesson {number}",
        "minutes": 30,
        "promise": "You learn a thing.",
        "prerequisites": "none",
        "questions": ["Why?"],
        "objectives": ["do the thing"],
        **course,
    }
    cells = cells or [nbformat.v4.new_markdown_cell(f"# {number} draft"), nbformat.v4.new_code_cell("1 + 1")]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={"course": metadata}), path)
    return path


def write_exercise(path: Path, first_cell: str, **metadata) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(first_cell)], metadata=metadata)
    nbformat.write(nb, path)
    return path


def small_course(root: Path) -> Path:
    """Module 02 with a lesson, a lab and an exercise, and a README with the course-map markers."""
    write_lesson(root / "notebooks" / "02_profiling.ipynb", title="Profiling", minutes=120, minutes_for_questions=45)
    write_lesson(root / "notebooks" / "02_lab_claims.ipynb", title="Lab: claims", minutes=45)
    write_exercise(root / "exercises" / "02_profiling.ipynb", "# Exercise 02: Profiling\n\n**Time:** about 75 minutes.")
    readme = f"# Course\n\n{course_views.README_START}\n{course_views.README_END}\n\n## More\n"
    (root / "README.md").write_text(readme)
    return root


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_every_lesson_states_its_module_title_time_questions_and_objectives(path):
    lesson = read_lesson(path)  # raises CourseMapError naming the key that is missing or malformed
    assert lesson.module in MODULES and lesson.minutes > 0 and lesson.questions and lesson.objectives
    ended = [o for o in lesson.objectives if o.rstrip()[-1] in ".;"]
    assert not ended, f"{path.name}: the header adds the ';' and '.' after each objective, not the data: {ended}"


def test_other_course_keys_are_kept():
    services = json.loads((ROOT / "notebooks" / "03_database_optimization.ipynb").read_text())["metadata"]["course"]
    assert services["services"] == ["database"] and services["module"] == "03"


def test_lesson_headers_and_readme_table_are_in_step_with_the_metadata():
    changed = course_views.update(ROOT, write=False)
    assert not changed, f"out of step with the notebooks' metadata: {changed}; run `make course-map`"


def test_readme_shows_the_course_table_between_its_markers():
    readme = (ROOT / "README.md").read_text()
    block = readme.split(course_views.README_START, 1)[1].split(course_views.README_END, 1)[0]
    assert block.strip() == course_table(course_map(ROOT))
    assert all(f"| {n} {t} |" in block for n, t in MODULES.items())
    unwritten = [m.caption for m in course_map(ROOT) if not m.written]
    assert ("*in preparation*" in block) == bool(unwritten), unwritten


def test_the_module_list_is_written_once():
    """No code outside course_lib/course_map.py spells out a module title that is not written yet."""
    unwritten = [title for number, title in MODULES.items() if not any((ROOT / "notebooks").glob(f"{number}_*"))]
    assert unwritten, "every module is written: pick another title this test can look for"
    sources = {p: p.read_text() for p in [*ROOT.glob("course_lib/**/*.py"), *ROOT.glob("course_tools/**/*.py")]}
    for path in LESSONS:
        cells = json.loads(path.read_text())["cells"]
        sources[path] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    copies = [p.name for p, text in sources.items() if p.name != "course_map.py" and any(t in text for t in unwritten)]
    assert not copies, f"{copies} repeat module titles; use course_lib.course_map.MODULES"


def test_the_start_here_map_is_built_by_course_lib():
    cells = json.loads((ROOT / "notebooks" / "00_start_here.ipynb").read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "from course_lib.course_map import" in code and "course_table(" in code
    assert not re.search(r"\bMODULES\s*=", code) and "re.search" not in code


def test_the_map_orders_lesson_then_lab_and_keeps_unwritten_modules(tmp_path):
    modules = {m.number: m for m in course_map(small_course(tmp_path))}
    assert list(modules) == list(MODULES)
    assert [(n.name, n.kind) for n in modules["02"].lessons] == [
        ("02_profiling.ipynb", "lesson"),
        ("02_lab_claims.ipynb", "lab"),
    ]
    assert modules["02"].exercise.title == "Profiling" and modules["02"].exercise.minutes == 75
    assert modules["01"].lessons == () and modules["01"].exercise is None
    table = course_table(list(modules.values()), links_from="notebooks")
    row = next(line for line in table.splitlines() if line.startswith("| 02 "))
    assert "[Lab: claims](02_lab_claims.ipynb)" in row and "(../exercises/02_profiling.ipynb)" in row
    assert row.endswith("| lesson 120 min, lab 45 min, exercise 75 min |")
    assert "| 01 Performance fundamentals | *in preparation* | *in preparation* |" in table
    assert "| 00 Start here | *in preparation* | none |" in table  # 00 has no exercise by design


def test_an_exercise_shows_alone_only_in_a_module_without_a_lesson_by_design(tmp_path):
    root = small_course(tmp_path)
    write_exercise(root / "exercises" / "07_capstone.ipynb", "# Exercise 07: Capstone\n\n**Time:** about 270 minutes.")
    write_exercise(root / "exercises" / "04_ahead.ipynb", "# Exercise 04: Ahead of its lesson")
    modules = {m.number: m for m in course_map(root)}
    assert modules["07"].number in WITHOUT_LESSON and modules["07"].written
    assert modules["07"].shown_exercise.name == "07_capstone.ipynb"
    assert modules["04"].exercise is not None and modules["04"].shown_exercise is None and not modules["04"].written
    table = course_table(list(modules.values()))
    row = next(line for line in table.splitlines() if line.startswith("| 07 "))
    assert row.endswith("| none | [Exercise 07](exercises/07_capstone.ipynb) | exercise 270 min |")
    assert "| 04 Caching | *in preparation* | *in preparation* |  |" in table


def test_the_capstone_module_is_written_and_shown_in_the_course_table():
    capstone = next(m for m in course_map(ROOT) if m.number == "07")
    assert capstone.written and capstone.shown_exercise.name == "07_capstone_slo.ipynb"
    assert "[Exercise 07](exercises/07_capstone_slo.ipynb)" in course_table(course_map(ROOT))


def test_an_exercise_s_own_metadata_wins_over_its_heading(tmp_path):
    path = write_exercise(tmp_path / "exercises" / "04_x.ipynb", "# Exercise 04: X", course={"minutes": 50})
    exercise = read_exercise(path)
    assert (exercise.module, exercise.title, exercise.minutes) == ("04", "X", 50)
    bare = read_exercise(write_exercise(tmp_path / "exercises" / "05_y.ipynb", "# Exercise 05: Y\n\nNo time."))
    assert (bare.module, bare.title, bare.minutes) == ("05", "Y", None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"minutes": "an hour"}, r"metadata\.course\.minutes should be a whole number"),
        ({"module": "03"}, r"metadata\.course\.module should be the file name's prefix, '02'"),
        ({"questions": []}, r"metadata\.course\.questions should be a non-empty list"),
        ({"minutes_for_questions": 200}, r"minutes_for_questions should be a part of minutes"),
    ],
)
def test_malformed_metadata_names_the_file_and_the_key(tmp_path, change, message):
    path = write_lesson(tmp_path / "notebooks" / "02_x.ipynb", **change)
    with pytest.raises(CourseMapError, match=message) as caught:
        read_lesson(path)
    assert "02_x.ipynb" in str(caught.value)


def test_a_module_missing_from_the_list_is_an_error(tmp_path):
    write_lesson(tmp_path / "notebooks" / "09_extra.ipynb")
    with pytest.raises(CourseMapError, match="not in course_lib.course_map.MODULES"):
        course_map(tmp_path)


def test_the_exercises_are_found_with_title_and_time():
    for module in course_map(ROOT):
        if module.exercise:
            assert module.exercise.title and not module.exercise.title.startswith("Exercise")
            assert module.exercise.minutes, f"{module.exercise.name}: no time found in its first cell"
    assert sum(bool(m.exercise) for m in course_map(ROOT)) >= 5


def test_course_root_is_found_from_a_subfolder():
    assert course_root(ROOT / "notebooks") == ROOT


def test_make_course_map_writes_headers_and_table_and_the_check_sees_a_hand_edit(tmp_path, capsys):
    root = small_course(tmp_path)
    assert course_views.main(["--root", str(root), "--check"]) == 1
    assert course_views.main(["--root", str(root)]) == 0
    assert course_views.main(["--root", str(root), "--check"]) == 0
    lesson = root / "notebooks" / "02_profiling.ipynb"
    nb = nbformat.read(lesson, as_version=4)
    header = nb.cells[0].source
    assert header.startswith("# 02 Profiling\n\nYou learn a thing.")
    assert "**Estimated time:** about 2 hours (75 minutes to read and run, 45 for the questions" in header
    assert "- do the thing." in header
    assert [c.source for c in nb.cells[1:]] == ["# 02 draft", "1 + 1"], "a first cell not generated is kept"
    assert "[Profiling](notebooks/02_profiling.ipynb)" in (root / "README.md").read_text()

    nb.cells[0].source = header.replace("about 2 hours", "about 3 hours")  # an edit by hand
    nbformat.write(nb, lesson)
    assert course_views.main(["--root", str(root), "--check"]) == 1
    assert "out of step: notebooks/02_profiling.ipynb: header cell" in capsys.readouterr().out
    course_views.main(["--root", str(root)])
    assert [c.source for c in nbformat.read(lesson, as_version=4).cells] == [header, "# 02 draft", "1 + 1"]


def test_missing_readme_markers_are_reported(tmp_path, capsys):
    root = small_course(tmp_path)
    (root / "README.md").write_text("# Course\n")
    assert course_views.main(["--root", str(root), "--check"]) == 2
    assert "README.md lacks the markers" in capsys.readouterr().err
