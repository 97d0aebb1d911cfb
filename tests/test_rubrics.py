"""Rubrics: each agrees with its solution notebook, renders to an up-to-date table, and is validated."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_tools.cells import metadata_for
from course_tools.notebook_files import read_notebook
from course_tools.points_table import END_MARKER, begin_marker
from course_tools.rubrics import RubricError, Task, check_rubric_matches, load_rubric, parse_rubric

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
RUBRICS = sorted((ROOT / "rubrics").glob("[0-9][0-9]_*.yml"))


# --------------------------------------------------------------------------- the course's rubrics


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_every_solution_has_a_matching_rubric(solution: Path) -> None:
    path = ROOT / "rubrics" / f"{solution.stem}.yml"
    assert path.exists(), f"solutions/{solution.name} has no rubric: write rubrics/{path.name}"
    rubric = load_rubric(path)
    assert rubric.notebook == solution.name
    assert check_rubric_matches(rubric, read_notebook(solution)) == []


@pytest.mark.parametrize("path", RUBRICS, ids=lambda p: p.name)
def test_every_rubric_has_a_solution_and_a_round_total(path: Path) -> None:
    assert (ROOT / "solutions" / f"{path.stem}.ipynb").exists(), f"{path.name} has no solution notebook"
    assert load_rubric(path).total == int(load_rubric(path).total)


@pytest.mark.parametrize("path", RUBRICS, ids=lambda p: p.name)
def test_rendered_rubric_is_up_to_date(path: Path) -> None:
    rendered = path.with_suffix(".md")
    assert rendered.exists(), f"rubrics/{rendered.name} is missing: run `course-exercises`"
    assert rendered.read_text(encoding="utf-8") == load_rubric(path).to_markdown(), (
        f"rubrics/{rendered.name} is out of date: run `course-exercises`"
    )


def points_tables(path: Path) -> list[str]:
    """The text between the points-table markers of every markdown cell of a notebook."""
    begin = begin_marker(f"{path.stem}.yml")
    tables = []
    for cell in read_notebook(path).cells:
        if cell.cell_type == "markdown" and begin in cell.source:
            tables.append(cell.source.split(begin, 1)[1].split(END_MARKER, 1)[0].strip("\n"))
    return tables


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_the_points_tables_agree_with_the_rubrics(solution: Path) -> None:
    rubric = load_rubric(ROOT / "rubrics" / f"{solution.stem}.yml")
    assert rubric.tasks, f"rubrics/{solution.stem}.yml lists no tasks for the points table"
    expected = rubric.points_table()
    for notebook in (solution, ROOT / "exercises" / solution.name):
        assert points_tables(notebook) == [expected], f"{notebook.relative_to(ROOT)}: run `course-exercises`"
    total = f"| | **total** ({rubric.autograded_total:g} checked automatically, "
    assert total in expected and expected.endswith(f"| **{rubric.total:g}** |")


def test_exercise_01_points() -> None:
    rubric = load_rubric(ROOT / "rubrics" / "01_performance_fundamentals.yml")
    assert rubric.total == 20
    assert sum(rubric.autograded_points.values()) == 16
    assert rubric.manual_points == {"slo_answer": 4}


# --------------------------------------------------------------------------- parsing and validation


def valid() -> dict[str, Any]:
    return {
        "notebook": "99_demo.ipynb",
        "title": "Demo",
        "autograded": [
            {"grade_id": "a_visible", "points": 2, "description": "a works on the visible cases"},
            {"grade_id": "a_hidden", "points": 1.5, "description": "a works | on hidden cases"},
        ],
        "manual": [
            {
                "grade_id": "essay",
                "points": 3,
                "criterion": "Explains why.",
                "levels": [
                    {"points": 0, "descriptor": "Missing."},
                    {"points": 3, "descriptor": "Complete."},
                    {"points": 1.5, "descriptor": "Half."},
                ],
            }
        ],
    }


def test_parse_valid_rubric() -> None:
    rubric = parse_rubric(valid())
    assert rubric.autograded_points == {"a_visible": 2.0, "a_hidden": 1.5}
    assert rubric.manual_points == {"essay": 3.0}
    assert rubric.points == {"a_visible": 2.0, "a_hidden": 1.5, "essay": 3.0}
    assert rubric.total == 6.5
    assert [level.points for level in rubric.manual[0].levels] == [3.0, 1.5, 0.0], "levels sorted highest first"


def with_tasks() -> dict[str, Any]:
    data = valid()
    data["tasks"] = [
        {"task": "(a)", "what": "write a | test it", "grade_ids": ["a_visible", "a_hidden"]},
        {"task": "(b)", "what": "explain why (written answer)", "grade_ids": ["essay"]},
    ]
    return data


def test_tasks_and_their_points_table() -> None:
    rubric = parse_rubric(with_tasks())
    assert rubric.tasks[0] == Task("(a)", "write a | test it", ("a_visible", "a_hidden"))
    assert [rubric.task_points(task) for task in rubric.tasks] == [3.5, 3.0]
    assert rubric.points_table().splitlines() == [
        "| Task | What | Points |",
        "| --- | --- | ---: |",
        "| (a) | write a \\| test it | 3.5 |",
        "| (b) | explain why (written answer) | 3 |",
        "| | **total** (3.5 checked automatically, 3 for written answers) | **6.5** |",
    ]
    assert parse_rubric(valid()).tasks == () and parse_rubric(valid()).points_table() == ""


def tasks_broken(change: Any) -> str:
    data = with_tasks()
    change(data["tasks"])
    with pytest.raises(RubricError) as info:
        parse_rubric(data, source="99_demo.yml")
    return str(info.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: t[0]["grade_ids"].append("a_other"), "tasks[0] ((a)): grade id 'a_other' has no autograded"),
        (
            lambda t: t[1]["grade_ids"].append("a_hidden"),
            "tasks[1] ((b)): grade id 'a_hidden' is already in task '(a)'",
        ),
        (lambda t: t[0]["grade_ids"].remove("a_hidden"), "grade id(s) a_hidden belong to no task"),
        (lambda t: t[1].update(task="(a)"), "tasks[1] ((a)): task '(a)' is listed twice"),
        (lambda t: t[0].update(grade_ids="a_visible"), "grade_ids must be a non-empty list of grade ids"),
        (lambda t: t[0].update(grade_ids=[]), "grade_ids must be a non-empty list of grade ids"),
        (lambda t: t[0].pop("what"), "tasks[0] ((a)): missing key(s) what"),
        (lambda t: t[0].update(points=3), "unknown key(s) points"),
    ],
)
def test_task_errors_are_clear(change: Any, expected: str) -> None:
    message = tasks_broken(change)
    assert message.startswith("99_demo.yml") and expected in message, message


def test_markdown_view() -> None:
    text = parse_rubric(valid()).to_markdown()
    assert text.startswith("<!-- Generated from rubrics/99_demo.yml")
    assert "# Rubric: Demo" in text and "**6.5 points**" in text
    assert "| `a_hidden` | 1.5 | a works \\| on hidden cases |" in text, "pipes are escaped in tables"
    assert "## Written answer `essay` (3 points)" in text
    assert "| 3 | Complete. |" in text and "| 0 | Missing. |" in text
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_load_rubric_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "99_demo.yml"
    path.write_text(
        "notebook: 99_demo.ipynb\ntitle: Demo\ntotal: 1\nautograded:\n"
        "  - {grade_id: t, points: 1, description: works}\nmanual: []\n"
    )
    assert load_rubric(path).autograded_points == {"t": 1.0}


def broken(change: Any) -> str:
    data = valid()
    change(data)
    with pytest.raises(RubricError) as info:
        parse_rubric(data, source="99_demo.yml")
    return str(info.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("title"), "99_demo.yml: missing key(s) title"),
        (lambda d: d["autograded"][0].pop("description"), "autograded[0] (a_visible): missing key(s) description"),
        (lambda d: d["manual"][0].pop("levels"), "manual[0] (essay): missing key(s) levels"),
        (lambda d: d.update(extra=1), "unknown key(s) extra"),
        (lambda d: d["autograded"][0].update(points=0), "(a_visible): points must be a positive number, got 0"),
        (lambda d: d["autograded"][0].update(points=-1), "points must be a positive number, got -1"),
        (lambda d: d["autograded"][0].update(points="2"), "points must be a positive number, got '2'"),
        (lambda d: d["autograded"][0].update(points=True), "points must be a positive number, got True"),
        (lambda d: d["manual"][0]["levels"].pop(0), "levels must cover 0 to 3 points"),
        (lambda d: d["manual"][0]["levels"].pop(1), "levels must cover 0 to 3 points"),
        (
            lambda d: d["manual"][0]["levels"].append({"points": 4, "descriptor": "More"}),
            "level 3: points must be a number from 0 to 3",
        ),
        (
            lambda d: d["manual"][0]["levels"].append({"points": 3, "descriptor": "Again"}),
            "two levels have the same points",
        ),
        (lambda d: d["manual"][0].update(levels=[]), "levels must be a non-empty list"),
        (lambda d: d["manual"][0]["levels"][0].update(descriptor=""), "descriptor must be non-empty text"),
        (lambda d: d["autograded"][1].update(grade_id="a_visible"), "grade_id 'a_visible' appears more than once"),
        (lambda d: d.update(total=7), "total is 7 but the entries add up to 6.5"),
        (lambda d: d.update(notebook="solutions/99_demo.ipynb"), "notebook must be a file name"),
        (lambda d: d.update(autograded={"grade_id": "x"}), "autograded must be a list"),
    ],
)
def test_validation_errors_are_clear(change: Any, expected: str) -> None:
    message = broken(change)
    assert message.startswith("99_demo.yml"), message
    assert expected in message, message


def test_not_a_mapping_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(RubricError, match="expected a mapping"):
        parse_rubric(["not", "a", "mapping"])
    path = tmp_path / "99_bad.yml"
    path.write_text("notebook: [unclosed\n")
    with pytest.raises(RubricError, match=r"99_bad\.yml: not valid YAML"):
        load_rubric(path)


def test_empty_sections_are_allowed() -> None:
    data = valid()
    data["manual"] = None
    assert parse_rubric(data).manual == ()


# --------------------------------------------------------------------------- rubric vs notebook


def demo_notebook() -> Any:
    return new_notebook(
        cells=[
            new_code_cell(
                "### BEGIN SOLUTION\nx = 1\n### END SOLUTION",
                id="answer",
                metadata={"nbgrader": metadata_for("answer", "a_answer")},
            ),
            new_code_cell("assert x", id="visible", metadata={"nbgrader": metadata_for("test", "a_visible", 2)}),
            new_code_cell("assert x", id="hidden", metadata={"nbgrader": metadata_for("test", "a_hidden", 1.5)}),
            new_markdown_cell("answer", id="essay", metadata={"nbgrader": metadata_for("manual", "essay", 3)}),
        ]
    )


def test_matching_rubric_has_no_problems() -> None:
    assert check_rubric_matches(parse_rubric(valid()), demo_notebook()) == []


def test_missing_entry_orphan_points_and_totals() -> None:
    data = valid()
    data["autograded"][1]["grade_id"] = "a_renamed"
    data["autograded"][0]["points"] = 3
    problems = check_rubric_matches(parse_rubric(data), demo_notebook())
    assert "graded cell 'a_hidden' (1.5 points) has no autograded entry" in problems
    assert "rubric entry 'a_renamed' has no graded cell with that grade id in the notebook" in problems
    assert "'a_visible' is worth 3 points in the rubric but 2 in the notebook" in problems
    assert "the notebook's graded cells add up to 6.5 points, the rubric to 7.5" in problems


def test_entry_in_the_wrong_section() -> None:
    data = valid()
    essay = data["manual"].pop()
    data["autograded"].append({"grade_id": essay["grade_id"], "points": 3, "description": "essay"})
    problems = check_rubric_matches(parse_rubric(data), demo_notebook())
    assert problems == ["'essay' is listed under autograded but the notebook cell is a manual cell; move it to manual"]


def test_rubric_is_not_modified_by_checks() -> None:
    data = valid()
    snapshot = copy.deepcopy(data)
    check_rubric_matches(parse_rubric(data), demo_notebook())
    assert data == snapshot


# --------------------------------------------------------------------------- nbgrader notebooks (rubric_for)


def nbgrader_notebook() -> Any:
    """A source notebook as nbgrader's create-assignment toolbar writes it: points only on graded cells,
    no ``task`` key on most cells, nbgrader's solution and hidden-test markers."""

    def meta(gid: str | None, *, grade: bool, solution: bool, locked: bool, points: float | None = None) -> dict:
        data = {"grade": grade, "solution": solution, "locked": locked, "schema_version": 3}
        data |= {"grade_id": gid} if gid else {}
        data |= {"points": points} if points is not None else {}
        return {"nbgrader": data}

    return new_notebook(
        cells=[
            new_markdown_cell(
                "# Squares\n\nWrite `square`.",
                id="intro",
                metadata=meta("intro", grade=False, solution=False, locked=True),
            ),
            new_markdown_cell(
                "A plain cell nbgrader touched.",
                id="plain",
                metadata=meta(None, grade=False, solution=False, locked=False),
            ),
            new_code_cell(
                "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
                id="answer",
                metadata=meta("square_answer", grade=False, solution=True, locked=False),
            ),
            new_code_cell(
                "assert square(2) == 4\n### BEGIN HIDDEN TESTS\nassert square(-3) == 9\n### END HIDDEN TESTS",
                id="tests",
                metadata=meta("square_tests", grade=True, solution=False, locked=True, points=2),
            ),
            new_markdown_cell("Why is a square never negative?", id="ask"),
            new_markdown_cell(
                "Because ...", id="why", metadata=meta("why", grade=True, solution=True, locked=False, points=3)
            ),
        ]
    )


def test_an_nbgrader_notebook_is_a_solution_as_it_is(tmp_path: Path) -> None:
    from course_tools.authoring import make_grading_template, make_student_version
    from course_tools.rubrics import rubric_for

    nb = nbgrader_notebook()
    template, student = make_grading_template(nb, name="07_squares.ipynb"), make_student_version(nb)
    assert "assert square(-3) == 9" in template.cells[3].source and "square(-3)" not in student.cells[3].source
    assert "return x * x" not in student.cells[2].source
    rubric = rubric_for(nb, tmp_path / "rubrics" / "07_squares.yml")  # no rubric file: the notebook's points
    assert (rubric.notebook, rubric.title) == ("07_squares.ipynb", "Squares")
    assert rubric.autograded_points == {"square_tests": 2.0} and rubric.manual_points == {"why": 3.0}
    assert rubric.manual[0].levels == () and rubric.total == 5


NBGRADER_RUBRIC = """\
notebook: 07_squares.ipynb
title: Squares
autograded:
  - {grade_id: square_tests, points: 2, description: square works, check: in-process}
manual:
  - grade_id: why
    points: 3
    criterion: explains it
    levels:
      - {points: 3, descriptor: right}
      - {points: 0, descriptor: wrong}
"""


def test_a_rubric_file_that_agrees_with_its_notebook_is_used(tmp_path: Path) -> None:
    from course_tools.rubrics import rubric_for

    (tmp_path / "07_squares.yml").write_text(NBGRADER_RUBRIC)
    rubric = rubric_for(nbgrader_notebook(), tmp_path / "07_squares.yml")
    assert [level.descriptor for level in rubric.manual[0].levels] == ["right", "wrong"]


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            lambda text: text.replace(
                "  - {grade_id: square_tests, points: 2, description: square works, check: in-process}", ""
            ),
            "graded cell 'square_tests' (2 points) has no autograded entry [cell 3 (id 'tests')]",
        ),
        (
            lambda text: text.replace("manual:", "  - {grade_id: extra, points: 1, description: x}\nmanual:"),
            "rubric entry 'extra' has no graded cell with that grade id in the notebook",
        ),
        (
            lambda text: text.replace("square_tests, points: 2", "square_tests, points: 4"),
            "'square_tests' is worth 4 points in the rubric but 2 in the notebook [cell 3 (id 'tests')]",
        ),
    ],
    ids=["test-cell-not-in-rubric", "rubric-id-without-cell", "points-differ"],
)
def test_a_rubric_that_disagrees_with_its_notebook_is_an_error_naming_the_cell(
    tmp_path: Path, change: Any, expected: str
) -> None:
    from course_tools.rubrics import rubric_for

    (tmp_path / "07_squares.yml").write_text(change(NBGRADER_RUBRIC))
    with pytest.raises(RubricError) as error:
        rubric_for(nbgrader_notebook(), tmp_path / "07_squares.yml")
    assert expected in str(error.value) and "07_squares.yml does not match solutions/07_squares.ipynb" in str(
        error.value
    )


def test_a_notebook_without_graded_cells_or_rubric_is_an_error(tmp_path: Path) -> None:
    from course_tools.rubrics import rubric_for

    with pytest.raises(RubricError, match="no graded cell"):
        rubric_for(new_notebook(cells=[new_markdown_cell("# Nothing", id="x")]), tmp_path / "08_nothing.yml")


def test_the_course_exercises_get_their_yaml_rubric() -> None:
    from course_tools.rubrics import rubric_for

    for solution in SOLUTIONS:
        rubric = rubric_for(read_notebook(solution), ROOT / "rubrics" / f"{solution.stem}.yml")
        assert rubric == load_rubric(ROOT / "rubrics" / f"{solution.stem}.yml")


def test_a_test_cell_without_probe_must_be_marked_in_process(tmp_path: Path) -> None:
    from course_tools.rubrics import rubric_for

    (tmp_path / "07_squares.yml").write_text(NBGRADER_RUBRIC.replace(", check: in-process", ""))
    with pytest.raises(RubricError, match="'square_tests' hands no value to probe"):
        rubric_for(nbgrader_notebook(), tmp_path / "07_squares.yml")
    (tmp_path / "07_squares.yml").write_text(NBGRADER_RUBRIC.replace("in-process", "sometimes"))
    with pytest.raises(RubricError, match="check must be 'trusted'"):
        rubric_for(nbgrader_notebook(), tmp_path / "07_squares.yml")
