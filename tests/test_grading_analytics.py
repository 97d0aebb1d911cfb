"""Learning analytics in the class summary: failure messages grouped per check, on hand-made results."""

from __future__ import annotations

import nbformat
import pytest
from grading_fixtures import RUBRIC

from course_tools.grading.analytics import (
    HIDDEN_NO_MESSAGE,
    NOT_RUN,
    check_stats,
    failures_markdown,
    group_failures,
    lowest_first,
    normalise_message,
)
from course_tools.grading.report import write_summary
from course_tools.grading.runner import Assignment, CellResult, SubmissionResult
from course_tools.rubrics import load_rubric

POINTS = {"add_visible": 2, "add_hidden": 3, "mul_visible": 5}


def _cell(gid: str, outcome: str = "passed", message: str = "") -> CellResult:
    points = POINTS.get(gid, 1)
    return CellResult(gid, outcome, points if outcome == "passed" else 0.0, points, message)


def _failed(message: str, gid: str = "f") -> CellResult:
    return _cell(gid, "failed", message)


def _student(name: str, status: str = "graded", **cells: CellResult) -> SubmissionResult:
    result = SubmissionResult(name, "99_tiny", status)
    result.cells = {gid: cells.get(gid, _cell(gid)) for gid in POINTS}
    return result


def _check_failed(got: object, hint: str = "count each value once") -> str:
    return (
        "Cell In[12], line 3\n"
        "----> 3 check_equal(counts(words), [1, 3], what='the counts')\n"
        "course_lib.checks.core.CheckFailed: ✗ Check failed: the counts\n"
        "  expected: [1, 3]\n"
        f"  got:      {got!r}\n"
        f"  hint:     {hint}"
    )


@pytest.mark.parametrize(
    "first, second",
    [
        (_check_failed([1, 2]), _check_failed([0, 0, 0, 7])),
        ("AssertionError: expected 12 rows, got 7", "AssertionError: expected 12 rows, got 1024"),
        ("AssertionError: took 0.53 s", "AssertionError: took 12.0 s"),
        (
            "TypeError: <Counter object at 0x7f3a2b10> is not callable",
            "TypeError: <Counter object at 0x55d0> is not callable",
        ),
        (
            "Cell In[3], line 1\n----> 1 assert add(1, 2) == 3\nAssertionError: add(1, 2) should be 3",
            "Cell In[9], line 4\n----> 4 assert add(1, 2) == 3\nAssertionError: add(1, 2) should be 3",
        ),
        (
            "ValueError: bad rows " + repr(list(range(40))),
            "ValueError: bad rows " + repr(list(range(90, 140))),
        ),
    ],
    ids=["check-values", "counts", "times", "addresses", "traceback-lines", "long-repr"],
)
def test_different_numbers_same_mistake_is_one_group(first, second):
    assert normalise_message(first) == normalise_message(second)
    assert group_failures([_failed(first), _failed(second)]) == [(normalise_message(first), 2)]


def test_the_check_line_and_the_hint_are_kept():
    key = normalise_message(_check_failed([1, 2]))
    assert key == "✗ Check failed: the counts / hint: count each value once"


@pytest.mark.parametrize(
    "first, second",
    [
        (_check_failed([1, 2]), _check_failed([1, 2], hint="look at the last word")),
        ("AssertionError: add(1, 2) should be 3", "AssertionError: mul(3, 4) should be 12"),
        ("NameError: name 'mul' is not defined", "NotImplementedError"),
    ],
    ids=["other-hint", "other-assertion", "other-error"],
)
def test_different_mistakes_are_different_groups(first, second):
    groups = group_failures([_failed(first), _failed(second)])
    assert len(groups) == 2 and {count for _, count in groups} == {1}


def test_top_three_most_common_first_ties_alphabetical():
    messages = (
        ["NotImplementedError"] * 4
        + [f"AssertionError: got {n}" for n in range(3)]
        + ["NameError: name 'x' is not defined"]
        + ["KeyError: 'a'"]
    )
    cells = [_failed(m) for m in reversed(messages)] + [_cell("f")] * 5
    assert group_failures(cells) == [
        ("NotImplementedError", 4),
        ("AssertionError: got N", 3),
        ("KeyError: 'a'", 1),
    ]


def test_hidden_and_not_run_checks_get_a_name():
    cells = [_failed("", "add_hidden"), _cell("add_hidden", "not run"), _failed("A hidden test failed.", "add_hidden")]
    assert sorted(group_failures(cells, hidden=True)) == sorted(
        [(HIDDEN_NO_MESSAGE, 1), (NOT_RUN, 1), ("A hidden test failed.", 1)]
    )


def _class() -> list[SubmissionResult]:
    return [
        _student("ana"),
        _student("ben", mul_visible=_failed(_check_failed([0, 1]), "mul_visible")),
        _student("cleo", mul_visible=_failed(_check_failed([5]), "mul_visible"), add_hidden=_failed("", "add_hidden")),
        _student("dan", mul_visible=_failed("NameError: name 'mul' is not defined", "mul_visible")),
        _student("eli", status="missing: no notebook with this name was handed in"),
    ]


def test_a_check_everyone_passed_shows_no_groups():
    stats = {s.grade_id: s for s in check_stats(_class(), POINTS, hidden={"add_hidden"})}
    assert stats["add_visible"].failures == [] and stats["add_visible"].rate == 1.0
    assert stats["add_hidden"].failures == [(HIDDEN_NO_MESSAGE, 1)]
    assert stats["mul_visible"].graded == 4 and stats["mul_visible"].passed == 1  # eli is not graded
    assert [s.grade_id for s in lowest_first(stats.values())] == ["mul_visible", "add_hidden", "add_visible"]
    text = "\n".join(failures_markdown(list(stats.values())))
    assert "### add_visible" not in text and "Everyone passed: add_visible." in text


def test_summary_md_has_the_section(tmp_path):
    rubric_path = tmp_path / "99_tiny.yml"
    rubric_path.write_text(RUBRIC)
    assignment = Assignment("99_tiny", nbformat.v4.new_notebook(), load_rubric(rubric_path), frozenset({"add_hidden"}))
    write_summary(_class(), assignment, tmp_path)
    summary = (tmp_path / "summary.md").read_text()
    section = summary.split("## What went wrong most often", 1)[1].split("\n## ", 1)[0]
    assert section.index("### mul_visible: 25% passed (1 of 4)") < section.index("### add_hidden: 75% passed (3 of 4)")
    assert "- 2 × `✗ Check failed: the counts / hint: count each value once`" in section
    assert "- 1 × `NameError: name 'mul' is not defined`" in section
    assert f"- 1 × `{HIDDEN_NO_MESSAGE}`" in section
    assert "Everyone passed: add_visible." in section
    assert "| add_visible | 2 | 100% |" in summary and "| eli |" in summary
    assert (tmp_path / "summary.png").stat().st_size > 1000


def test_no_graded_submission_says_so(tmp_path):
    stats = check_stats([_student("eli", status="missing")], POINTS)
    assert failures_markdown(stats)[-1] == "No graded submissions."
