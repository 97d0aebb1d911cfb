"""The exercise pipeline: solution notebooks in, student notebooks and grading templates out."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_tools import authoring
from course_tools.authoring import make_grading_template, make_student_version
from course_tools.cells import (
    BEGIN_HIDDEN_TESTS,
    BEGIN_SOLUTION,
    END_HIDDEN_TESTS,
    END_SOLUTION,
    HIDDEN_TESTS_PLACEHOLDER,
    MANUAL_PLACEHOLDER,
    SOLUTION_STUB,
    AuthoringError,
    cell_role,
    grade_id,
    metadata_for,
)
from course_tools.notebook_files import notebook_to_text, read_notebook
from course_tools.points_table import END_MARKER, begin_marker, fill_points_table
from course_tools.rubrics import parse_rubric

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
MARKERS = (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN_TESTS, END_HIDDEN_TESTS)


# --------------------------------------------------------------------------- helpers


def answer(source: str, gid: str = "answer", cell_id: str | None = None) -> nbformat.NotebookNode:
    return new_code_cell(source, id=cell_id or gid, metadata={"nbgrader": metadata_for("answer", gid)})


def graded_test(source: str, gid: str = "test", points: float = 1, cell_id: str | None = None) -> nbformat.NotebookNode:
    return new_code_cell(source, id=cell_id or gid, metadata={"nbgrader": metadata_for("test", gid, points)})


def manual(source: str, gid: str = "written", points: float = 2) -> nbformat.NotebookNode:
    return new_markdown_cell(source, id=gid, metadata={"nbgrader": metadata_for("manual", gid, points)})


def notebook(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return new_notebook(cells=list(cells))


def lines(*parts: str) -> str:
    return "\n".join(parts)


STUB = SOLUTION_STUB


# --------------------------------------------------------------------------- roles and metadata


def test_roles_and_grade_ids() -> None:
    plain = new_code_cell("x = 1", id="plain")
    locked_only = new_code_cell("x = 1", id="locked", metadata={"nbgrader": {"locked": True}})
    cells = [
        answer(lines(BEGIN_SOLUTION, "x = 1", END_SOLUTION), "a"),
        graded_test("assert x", "t"),
        manual("text", "m"),
        plain,
        locked_only,
    ]
    assert [cell_role(c) for c in cells] == ["answer", "test", "manual", None, None]
    assert [grade_id(c) for c in cells] == ["a", "t", "m", None, None]


def test_metadata_follows_nbgrader_layout() -> None:
    assert metadata_for("test", "t1", 3) == {
        "grade": True,
        "grade_id": "t1",
        "locked": True,
        "points": 3,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }
    assert metadata_for("answer", "a1") | {} == {
        "grade": False,
        "grade_id": "a1",
        "locked": False,
        "points": 0,
        "schema_version": 3,
        "solution": True,
        "task": False,
    }
    manual_meta = metadata_for("manual", "m1", 4)
    assert (manual_meta["grade"], manual_meta["solution"], manual_meta["points"]) == (True, True, 4)
    with pytest.raises(ValueError, match="points > 0"):
        metadata_for("test", "t", 0)


# --------------------------------------------------------------------------- solution blocks


def test_solution_block_becomes_stub_at_its_indentation() -> None:
    source = lines(
        "def f(xs):",
        '    """Docstring stays."""',
        "    total = 0",
        "    for x in xs:",
        f"        {BEGIN_SOLUTION}",
        "        total += x",
        f"        {END_SOLUTION}",
        f"    {BEGIN_SOLUTION}",
        "    return total",
        f"    {END_SOLUTION}",
    )
    student = make_student_version(notebook(answer(source)))
    assert student.cells[0].source == lines(
        "def f(xs):",
        '    """Docstring stays."""',
        "    total = 0",
        "    for x in xs:",
        f"        {STUB}",
        f"    {STUB}",
    )


def test_top_level_block_and_code_around_it() -> None:
    source = lines("import math", BEGIN_SOLUTION, "answer = math.pi", END_SOLUTION, "print('after')")
    student = make_student_version(notebook(answer(source)))
    assert student.cells[0].source == lines("import math", STUB, "print('after')")


def test_stub_is_plain_words_and_raises_not_implemented() -> None:
    assert "replace this line with your code" in SOLUTION_STUB
    with pytest.raises(NotImplementedError, match="replace this line"):
        exec(SOLUTION_STUB)


def test_tabs_are_kept_as_indentation() -> None:
    source = lines("def f():", f"\t{BEGIN_SOLUTION}", "\treturn 1", f"\t{END_SOLUTION}")
    assert make_student_version(notebook(answer(source))).cells[0].source == lines("def f():", f"\t{STUB}")


def test_grading_template_also_stubs_solutions() -> None:
    source = lines("def f():", f"    {BEGIN_SOLUTION}", "    return 42", f"    {END_SOLUTION}")
    template = make_grading_template(notebook(answer(source)))
    assert template.cells[0].source == lines("def f():", f"    {STUB}")


# --------------------------------------------------------------------------- hidden tests


def test_hidden_tests_removed_visible_tests_kept() -> None:
    source = lines("assert f(1) == 1", BEGIN_HIDDEN_TESTS, "assert f(2) == 4", END_HIDDEN_TESTS, "print('done')")
    nb = notebook(graded_test(source))
    assert make_student_version(nb).cells[0].source == lines("assert f(1) == 1", "print('done')")
    assert make_grading_template(nb).cells[0].source == lines("assert f(1) == 1", "assert f(2) == 4", "print('done')")


def test_hidden_only_cell_keeps_its_grade_id_and_a_placeholder() -> None:
    source = lines(BEGIN_HIDDEN_TESTS, "# secret cases", "assert f(3) == 9", END_HIDDEN_TESTS)
    nb = notebook(graded_test(source, "f_hidden", points=3))
    cell = make_student_version(nb).cells[0]
    assert cell.source == HIDDEN_TESTS_PLACEHOLDER
    assert grade_id(cell) == "f_hidden" and cell_role(cell) == "test"
    assert cell.metadata["nbgrader"]["points"] == 3
    assert cell.metadata["editable"] is False and cell.metadata["deletable"] is False
    assert make_grading_template(nb).cells[0].source == lines("# secret cases", "assert f(3) == 9")


def test_test_cell_without_hidden_block_is_kept_as_is() -> None:
    nb = notebook(graded_test("# only a comment, nothing hidden"))
    assert make_student_version(nb).cells[0].source == "# only a comment, nothing hidden"


def test_indented_hidden_block() -> None:
    source = lines(
        "for n in range(3):",
        "    assert f(n) >= 0",
        f"    {BEGIN_HIDDEN_TESTS}",
        "    assert f(n) == n * n",
        f"    {END_HIDDEN_TESTS}",
    )
    nb = notebook(graded_test(source))
    assert make_student_version(nb).cells[0].source == lines("for n in range(3):", "    assert f(n) >= 0")
    assert make_grading_template(nb).cells[0].source == lines(
        "for n in range(3):", "    assert f(n) >= 0", "    assert f(n) == n * n"
    )


# --------------------------------------------------------------------------- whole notebooks


def test_written_answer_emptied_other_cells_untouched_input_unchanged() -> None:
    intro = new_markdown_cell("# Title", id="intro")
    setup = new_code_cell(
        "import math", id="setup", execution_count=3, outputs=[nbformat.v4.new_output("stream", text="hi")]
    )
    nb = notebook(intro, setup, manual("The model answer: because...", "why"))
    before = notebook_to_text(nb)
    student = make_student_version(nb)
    assert student.cells[2].source == MANUAL_PLACEHOLDER
    assert cell_role(student.cells[2]) == "manual"
    assert student.cells[0] == intro
    assert student.cells[1].source == "import math"
    assert student.cells[1].outputs == [] and student.cells[1].execution_count is None
    assert [c.id for c in student.cells] == ["intro", "setup", "why"]
    assert notebook_to_text(nb) == before, "the solution notebook must not be modified"


def test_read_only_cells_are_copied_and_locked() -> None:
    read_only = {**metadata_for("test", "data", 1), "grade": False, "points": 0}
    cell = new_code_cell("DATA = [3, 1, 2]", id="data", metadata={"nbgrader": read_only})
    out = make_student_version(notebook(cell)).cells[0]
    assert cell_role(out) is None and grade_id(out) == "data"
    assert out.source == "DATA = [3, 1, 2]"
    assert out.metadata["editable"] is False and out.metadata["deletable"] is False
    cell.metadata["nbgrader"]["points"] = 1
    assert "read-only cell" in error_for(notebook(cell))


def test_outputs_and_counts_cleared_everywhere() -> None:
    cell = answer(lines(BEGIN_SOLUTION, "x = 1", END_SOLUTION))
    cell.outputs = [nbformat.v4.new_output("stream", text="x")]
    cell.execution_count = 7
    out = make_student_version(notebook(cell)).cells[0]
    assert out.outputs == [] and out.execution_count is None


def test_notebook_text_is_deterministic_with_trailing_newline() -> None:
    nb = notebook(answer(lines(BEGIN_SOLUTION, "x = 1", END_SOLUTION)), manual("text"))
    first = notebook_to_text(make_student_version(nb))
    assert first == notebook_to_text(make_student_version(nb))
    assert first.endswith("}\n") and '\n "cells": [\n  {' in first  # indent 1


# --------------------------------------------------------------------------- authoring errors


def error_for(nb: nbformat.NotebookNode) -> str:
    with pytest.raises(AuthoringError) as info:
        make_student_version(nb, name="solutions/99_demo.ipynb")
    return str(info.value)


def test_begin_without_end_names_notebook_cell_and_line() -> None:
    message = error_for(
        notebook(
            new_markdown_cell("intro", id="intro"),
            answer(lines("def f():", f"    {BEGIN_SOLUTION}", "    return 1"), "f_answer"),
        )
    )
    assert "solutions/99_demo.ipynb" in message and "cell 1" in message and "'f_answer'" in message
    assert "line 2" in message and "never closed" in message


def test_end_without_begin() -> None:
    message = error_for(notebook(answer(lines("x = 1", END_SOLUTION))))
    assert "line 2" in message and "without" in message


def test_nested_begin() -> None:
    message = error_for(notebook(answer(lines(BEGIN_SOLUTION, BEGIN_SOLUTION, "x", END_SOLUTION, END_SOLUTION))))
    assert "line 2" in message and "opened on line 1" in message


def test_unbalanced_hidden_tests() -> None:
    message = error_for(notebook(graded_test(lines("assert True", BEGIN_HIDDEN_TESTS, "assert 1"), "t_hidden")))
    assert "'t_hidden'" in message and "line 2" in message and "never closed" in message


def test_duplicate_grade_ids() -> None:
    nb = notebook(graded_test("assert 1", "same", cell_id="c1"), graded_test("assert 2", "same", cell_id="c2"))
    message = error_for(nb)
    assert "'same'" in message and "used twice" in message


def test_test_cell_without_points() -> None:
    cell = graded_test("assert 1", "t0")
    cell.metadata["nbgrader"]["points"] = 0
    assert "points > 0" in error_for(notebook(cell))


def test_manual_cell_without_points() -> None:
    cell = manual("text", "m0")
    del cell.metadata["nbgrader"]["points"]
    assert "lacks points" in error_for(notebook(cell))


def test_unlocked_test_cell() -> None:
    cell = graded_test("assert 1", "t")
    cell.metadata["nbgrader"]["locked"] = False
    assert "locked" in error_for(notebook(cell))


def test_answer_cell_without_markers() -> None:
    assert "needs at least one" in error_for(notebook(answer("x = 1")))


def test_answer_cell_with_points() -> None:
    cell = answer(lines(BEGIN_SOLUTION, "x = 1", END_SOLUTION))
    cell.metadata["nbgrader"]["points"] = 2
    assert "carries no points" in error_for(notebook(cell))


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (
            new_code_cell(lines("x = 1", BEGIN_SOLUTION, "y", END_SOLUTION), id="plain"),
            "solution markers belong in answer cells",
        ),
        (graded_test(lines(BEGIN_SOLUTION, "y", END_SOLUTION)), "solution markers belong in answer cells"),
        (answer(lines(BEGIN_HIDDEN_TESTS, "y", END_HIDDEN_TESTS)), "hidden-test markers belong in test cells"),
        (manual(lines(BEGIN_SOLUTION, "text", END_SOLUTION)), "solution markers belong in answer cells"),
    ],
)
def test_markers_in_the_wrong_cell(cell: nbformat.NotebookNode, expected: str) -> None:
    message = error_for(notebook(cell))
    assert expected in message and "line" in message


def test_marker_must_be_alone_on_its_line() -> None:
    message = error_for(notebook(answer(lines("x = 1  " + BEGIN_SOLUTION, "y", END_SOLUTION))))
    assert "alone on its line" in message and "line 1" in message


def test_bad_grade_id_and_unsupported_role() -> None:
    bad = graded_test("assert 1", "has space", cell_id="bad")
    assert "grade_id" in error_for(notebook(bad))
    both = new_code_cell("x", id="both", metadata={"nbgrader": {**metadata_for("test", "both", 1), "solution": True}})
    assert "no supported role" in error_for(notebook(both))


def test_missing_and_duplicate_cell_ids() -> None:
    nb = notebook(new_markdown_cell("a", id="dup"), new_markdown_cell("b", id="other"))
    nb.cells[1]["id"] = "dup"  # nbformat repairs duplicates when it builds a notebook, so set it afterwards
    assert "also used by cell 0" in error_for(nb)
    nb = notebook(new_markdown_cell("a", id="x"))
    del nb.cells[0]["id"]
    assert "has no id" in error_for(nb)


def test_read_notebook_refuses_cells_without_ids(tmp_path: Path) -> None:
    nb = notebook(new_markdown_cell("a", id="a"))
    text = notebook_to_text(nb).replace('   "id": "a",\n', "")
    path = tmp_path / "01_x.ipynb"
    path.write_text(text)
    with pytest.raises(AuthoringError, match=r"01_x\.ipynb, cell 0: the cell has no id"):
        read_notebook(path)


# --------------------------------------------------------------------------- the course's own notebooks


def test_there_is_at_least_one_solution() -> None:
    assert SOLUTIONS, "no solutions/NN_*.ipynb found"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_exercise_is_in_sync_with_its_solution(solution: Path) -> None:
    exercise = ROOT / "exercises" / solution.name
    assert exercise.exists(), f"exercises/{solution.name} is missing: run `course-exercises`"
    expected = notebook_to_text(make_student_version(read_notebook(solution), name=solution.name))
    assert exercise.read_text(encoding="utf-8") == expected, (
        f"exercises/{solution.name} is out of date with solutions/{solution.name}: run `course-exercises`"
    )


def test_every_exercise_has_a_solution() -> None:
    orphans = {p.name for p in (ROOT / "exercises").glob("*.ipynb")} - {p.name for p in SOLUTIONS}
    assert not orphans, f"exercises without a solution notebook: {sorted(orphans)}"


_TRIVIAL = re.compile(r"[\s()\[\]{}:,.'\"#-]*")


def _hidden_lines(nb: nbformat.NotebookNode) -> set[str]:
    """Stripped, non-trivial lines the student must not see: solution code, hidden tests, model answers.

    A line that the solution also shows outside every block (say, the same ``check_cases(...)``
    call in a visible and a hidden test) is not secret, so it does not count.
    """
    hidden: set[str] = set()
    visible: set[str] = set()
    for cell in nb.cells:
        if cell_role(cell) == "manual":
            hidden.update(line.strip() for line in cell.source.splitlines())
            continue
        inside = False
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped in (BEGIN_SOLUTION, BEGIN_HIDDEN_TESTS):
                inside = True
            elif stripped in (END_SOLUTION, END_HIDDEN_TESTS):
                inside = False
            else:
                (hidden if inside else visible).add(stripped)
    return {line for line in hidden - visible if len(line) > 6 and not _TRIVIAL.fullmatch(line)}


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_no_solution_or_hidden_test_leaks_into_the_exercise(solution: Path) -> None:
    exercise_path = ROOT / "exercises" / solution.name
    text = exercise_path.read_text(encoding="utf-8")
    for marker in MARKERS:
        assert marker not in text, f"{marker!r} survived in exercises/{solution.name}"
    hidden = _hidden_lines(read_notebook(solution))
    assert hidden, "expected the solution to hide something"
    exercise = read_notebook(exercise_path)
    shown = {line.strip() for cell in exercise.cells for line in cell.source.splitlines()}
    leaked = sorted(hidden & shown)
    assert not leaked, f"lines from solution/hidden blocks appear in exercises/{solution.name}: {leaked}"


def test_leak_check_catches_hidden_tests_and_model_answers() -> None:
    """The leak check above has teeth: the grading template (hidden tests kept) fails it."""
    nb = notebook(
        graded_test(lines("check(1)", BEGIN_HIDDEN_TESTS, "check(secret_case_42)", END_HIDDEN_TESTS)),
        manual("A model answer that must stay secret."),
    )
    template = make_grading_template(nb)
    template.cells[1].source = nb.cells[1].source
    shown = {line.strip() for cell in template.cells for line in cell.source.splitlines()}
    assert _hidden_lines(nb) & shown == {"check(secret_case_42)", "A model answer that must stay secret."}


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_exercise_keeps_ids_and_grade_ids(solution: Path) -> None:
    source = read_notebook(solution)
    exercise = read_notebook(ROOT / "exercises" / solution.name)
    assert [c.id for c in exercise.cells] == [c.id for c in source.cells]
    assert [grade_id(c) for c in exercise.cells] == [grade_id(c) for c in source.cells]
    assert all(c.get("outputs", []) == [] for c in exercise.cells)
    assert all(
        c.get("outputs", []) == [] and c.get("execution_count") is None for c in source.cells if c.cell_type == "code"
    ), "store solutions without outputs"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_grading_template_has_hidden_tests_but_no_solutions(solution: Path) -> None:
    nb = read_notebook(solution)
    template = make_grading_template(nb, name=solution.name)
    text = notebook_to_text(template)
    assert not any(marker in text for marker in MARKERS)
    for cell, original in zip(template.cells, nb.cells, strict=True):
        if cell_role(original) == "test":
            body = [line for line in original.source.splitlines() if line.strip() not in MARKERS]
            assert cell.source.splitlines() == body
        elif cell_role(original) == "answer":
            assert STUB in cell.source
        elif cell_role(original) == "manual":
            assert cell.source == MANUAL_PLACEHOLDER


# --------------------------------------------------------------------------- the command line


def copy_course(tmp_path: Path) -> Path:
    for folder in ("solutions", "exercises", "rubrics"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def test_check_passes_on_the_repository(capsys: pytest.CaptureFixture[str]) -> None:
    assert authoring.main(["--root", str(ROOT), "--check"]) == 0, capsys.readouterr().err


def test_regeneration_is_deterministic_and_check_lists_stale_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_course(tmp_path)
    shutil.rmtree(root / "exercises")
    for md in (root / "rubrics").glob("*.md"):
        md.unlink()
    assert authoring.main(["--root", str(root), "--check"]) == 1
    err = capsys.readouterr().err
    assert "exercises/01_performance_fundamentals.ipynb is out of date" in err
    assert "rubrics/01_performance_fundamentals.md is out of date" in err

    assert authoring.main(["--root", str(root)]) == 0
    first = {p.name: p.read_bytes() for p in [*(root / "exercises").iterdir(), *(root / "rubrics").glob("*.md")]}
    assert authoring.main(["--root", str(root)]) == 0
    second = {p.name: p.read_bytes() for p in [*(root / "exercises").iterdir(), *(root / "rubrics").glob("*.md")]}
    assert first == second
    for name, data in first.items():
        committed = next(ROOT / d / name for d in ("exercises", "rubrics") if (ROOT / d / name).exists())
        assert committed.read_bytes() == data, f"{name}: regenerated bytes differ from the committed file"
    assert authoring.main(["--root", str(root), "--check"]) == 0


def test_check_reports_a_hand_edited_exercise_and_orphans(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = copy_course(tmp_path)
    exercise = root / "exercises" / "01_performance_fundamentals.ipynb"
    exercise.write_text(exercise.read_text().replace("YOUR ANSWER HERE", "edited by hand"))
    shutil.copy(exercise, root / "exercises" / "98_gone.ipynb")
    assert authoring.main(["--root", str(root), "--check"]) == 1
    err = capsys.readouterr().err
    assert "exercises/01_performance_fundamentals.ipynb is out of date" in err
    assert "exercises/98_gone.ipynb has no solutions/98_gone.ipynb" in err


def test_rubric_problems_fail_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = copy_course(tmp_path)
    rubric = root / "rubrics" / "01_performance_fundamentals.yml"
    rubric.write_text(rubric.read_text().replace("points: 3\n", "points: 4\n", 1))
    shutil.copy(rubric, root / "rubrics" / "97_orphan.yml")
    assert authoring.main(["--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert "rubrics/01_performance_fundamentals.yml: total is 20 but the entries add up to 21" in err
    assert "rubrics/97_orphan.yml has no solutions/97_orphan.ipynb" in err


def test_authoring_error_is_reported_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = copy_course(tmp_path)
    solution = root / "solutions" / "01_performance_fundamentals.ipynb"
    solution.write_text(solution.read_text().replace(END_SOLUTION, "# end removed", 1), encoding="utf-8")
    assert authoring.main(["--root", str(root)]) == 1
    assert "never closed" in capsys.readouterr().err


# --------------------------------------------------------------------------- the points table


def test_a_changed_rubric_makes_check_fail_until_the_table_is_rewritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_course(tmp_path)
    rubric = root / "rubrics" / "01_performance_fundamentals.yml"
    solution = root / "solutions" / "01_performance_fundamentals.ipynb"
    before = read_notebook(solution)
    rubric.write_text(rubric.read_text().replace('what: "a percentile function"', 'what: "a percentile, from scratch"'))
    assert authoring.main(["--root", str(root), "--check"]) == 1
    err = capsys.readouterr().err
    assert (
        "the points table of solutions/01_performance_fundamentals.ipynb is out of date with "
        "rubrics/01_performance_fundamentals.yml" in err
    )
    assert "exercises/01_performance_fundamentals.ipynb is out of date" in err

    assert authoring.main(["--root", str(root)]) == 0
    assert "wrote solutions/01_performance_fundamentals.ipynb" in capsys.readouterr().out
    after = read_notebook(solution)
    changed = [i for i, (old, new) in enumerate(zip(before.cells, after.cells, strict=True)) if old != new]
    assert len(changed) == 1, "only the cell with the points table changes"
    for notebook in (solution, root / "exercises" / solution.name):
        assert "| (a) | a percentile, from scratch | 5 |" in read_notebook(notebook).cells[changed[0]].source
    assert authoring.main(["--root", str(root), "--check"]) == 0


def test_a_table_edited_by_hand_is_out_of_date(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = copy_course(tmp_path)
    solution = root / "solutions" / "01_performance_fundamentals.ipynb"
    solution.write_text(solution.read_text().replace("| **20** |", "| **21** |"), encoding="utf-8")
    assert authoring.main(["--root", str(root), "--check"]) == 1
    assert "the points table of solutions/01_performance_fundamentals.ipynb is out of date" in capsys.readouterr().err


def table_problems(intro: str, tasks: bool = True) -> list[str]:
    data = {
        "notebook": "99_demo.ipynb",
        "title": "Demo",
        "autograded": [{"grade_id": "t", "points": 1, "description": "works"}],
        "manual": [],
    }
    if tasks:
        data["tasks"] = [{"task": "(a)", "what": "do it", "grade_ids": ["t"]}]
    nb = notebook(new_markdown_cell(intro, id="intro"), graded_test("assert True", "t"))
    return fill_points_table(nb, parse_rubric(data), rubric_file="99_demo.yml", name="solutions/99_demo.ipynb")[1]


def test_points_table_problems_are_named() -> None:
    begin, end = begin_marker("99_demo.yml"), END_MARKER
    assert table_problems(f"{begin}\n{end}") == []
    assert "lists tasks but no markdown cell has a points table" in table_problems("no table here")[0]
    assert "has a points table but rubrics/99_demo.yml lists no tasks" in table_problems(f"{begin}\n{end}", False)[0]
    assert "says rubrics/98_other.yml" in table_problems(f"{begin_marker('98_other.yml')}\n{end}")[0]
    assert "has no '<!-- end of points table -->'" in table_problems(begin)[0]


def test_module_runs_as_a_script() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "course_tools.authoring", "--root", str(ROOT), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
