"""Every exercise, graded for real: its solution earns every autograded point, the unsolved
student version earns none."""

from pathlib import Path

import pytest

from course_tools.grading.runner import Assignment, Limits, grade_submission

ROOT = Path(__file__).resolve().parents[1]
NAMES = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))


@pytest.fixture(scope="module", params=NAMES)
def assignment(request) -> Assignment:
    return Assignment.load(request.param, ROOT / "solutions", ROOT / "rubrics")


def test_the_solution_earns_full_autograded_points(assignment):
    result = grade_submission("solution", ROOT / "solutions" / f"{assignment.name}.ipynb", assignment, Limits())
    failed = {g: c.message for g, c in result.cells.items() if c.outcome != "passed"}
    assert not failed and result.total == assignment.rubric.autograded_total, failed
    assert result.status == "graded"


def test_the_unsolved_exercise_earns_nothing(assignment):
    result = grade_submission("unsolved", ROOT / "exercises" / f"{assignment.name}.ipynb", assignment, Limits())
    passed = [g for g, c in result.cells.items() if c.outcome == "passed"]
    assert result.total == 0 and not passed, f"these checks pass without a solution: {passed}"
