"""What the grader writes for one assignment: grades.csv, feedback per student, a class summary."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from course_tools.cells import MANUAL_PLACEHOLDER  # noqa: E402
from course_tools.grading.analytics import CheckStats, check_stats, failures_markdown, lowest_first  # noqa: E402
from course_tools.grading.runner import Assignment, SubmissionResult  # noqa: E402


def safe_name(student: str) -> str:
    """A file name for a student's folder name (``Ana María/`` -> ``Ana_María``)."""
    return re.sub(r"[^\w.-]+", "_", student).strip("._") or "student"


def write_reports(results: list[SubmissionResult], assignment: Assignment, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    results = sorted(results, key=lambda r: r.student)
    write_csv(results, assignment, out / "grades.csv")
    (out / "feedback").mkdir(exist_ok=True)
    for result in results:
        (out / "feedback" / f"{safe_name(result.student)}.md").write_text(feedback_markdown(result, assignment))
    write_summary(results, assignment, out)


def write_csv(results: list[SubmissionResult], assignment: Assignment, path: Path) -> None:
    """One row per student: a column per grade id, the autograded total, empty manual columns."""
    auto = list(assignment.rubric.autograded_points)
    manual = [criterion.grade_id for criterion in assignment.rubric.manual]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", *auto, "autograded_total", "autograded_max", *manual, "status"])
        maximum = assignment.rubric.autograded_total
        for r in results:
            writer.writerow(
                [
                    r.student,
                    *(_number(r.cells[g].points) for g in auto),
                    _number(r.total),
                    _number(maximum),
                    *([""] * len(manual)),
                    r.status,
                ]
            )


def _number(value: float) -> str:
    return f"{value:g}"


def feedback_markdown(result: SubmissionResult, assignment: Assignment) -> str:
    maximum = assignment.rubric.autograded_total
    lines = [
        f"# Feedback: {assignment.name}",
        "",
        f"Student: {result.student}  ",
        f"Status: {result.status}  ",
        f"Automatically graded points: {result.total:g} / {maximum:g}",
        "",
        "| check | result | points |",
        "|---|---|---|",
    ]
    for cell in result.cells.values():
        lines.append(f"| {cell.grade_id} | {cell.outcome} | {cell.points:g} / {cell.max_points:g} |")
    failed = [cell for cell in result.cells.values() if cell.outcome != "passed"]
    if failed:
        lines += ["", "## What did not pass, and why", ""]
        for cell in failed:
            why = cell.message or (
                "The check did not run (the notebook stopped before it)."
                if cell.outcome == "not run"
                else "No details."
            )
            lines += [f"### {cell.grade_id}", "", "```", why, "```", ""]
    if assignment.rubric.manual:
        lines += ["", "## Written answers (graded by your instructor)", ""]
        for criterion in assignment.rubric.manual:
            answer = result.answers.get(criterion.grade_id, "").strip()
            if answer in ("", MANUAL_PLACEHOLDER):
                answer = "(no answer found)"
            lines += [f"### {criterion.grade_id} ({criterion.points:g} points)", "", answer, ""]
    return "\n".join(lines).rstrip() + "\n"


def write_summary(results: list[SubmissionResult], assignment: Assignment, out: Path) -> None:
    """``summary.md`` (score distribution, pass rate per check, what went wrong most often, statuses)
    and ``summary.png``."""
    maximum = assignment.rubric.autograded_total
    graded = [r for r in results if r.status.startswith("graded")]
    scores = [r.total for r in graded]
    stats = check_stats(results, assignment.rubric.autograded_points, assignment.hidden)
    lines = [f"# Class summary: {assignment.name}", "", f"Submissions: {len(results)}; graded: {len(graded)}", ""]
    if scores:
        ordered = sorted(scores)
        lines += [
            f"Autograded score (out of {maximum:g}): mean {sum(scores) / len(scores):.1f}, "
            f"median {ordered[len(ordered) // 2]:g}, min {ordered[0]:g}, max {ordered[-1]:g}",
            "",
        ]
    lines += ["| check | points | pass rate |", "|---|---|---|"]
    lines += [f"| {s.grade_id} | {s.points:g} | {s.rate:.0%} |" for s in stats]
    lines += ["", *failures_markdown(stats)]
    problems = [r for r in results if r.status != "graded"]
    if problems:
        lines += ["", "## Submissions that need a look", "", "| student | status |", "|---|---|"]
        lines += [f"| {r.student} | {r.status} |" for r in problems]
    lines += ["", "![score distribution and pass rates](summary.png)"]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    _plot_summary(scores, maximum, stats, assignment.name, out / "summary.png")


def _plot_summary(scores: list[float], maximum: float, stats: list[CheckStats], name: str, path: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    left.hist(scores, bins=min(20, max(5, int(maximum) + 1)), range=(0, maximum), color="tab:blue", edgecolor="white")
    left.set(
        xlabel=f"autograded points (out of {maximum:g})",
        ylabel="students",
        title=f"{name}: score distribution ({len(scores)} graded)",
    )
    ordered = lowest_first(stats)  # drawn top to bottom: the check the class missed most on top, in red
    worst = ordered[0].rate if ordered else 1.0
    colours = ["tab:red" if s.rate == worst and s.rate < 1 else "tab:green" for s in ordered]
    bars = right.barh([s.grade_id for s in ordered], [100 * s.rate for s in ordered], color=colours)
    right.bar_label(bars, labels=[f"{s.rate:.0%}" for s in ordered], padding=3)
    right.set(
        xlabel="students who passed (%)",
        xlim=(0, 110),
        title="Pass rate per check, lowest first (most missed on top)",
    )
    right.invert_yaxis()
    fig.savefig(path, dpi=100)
    plt.close(fig)
