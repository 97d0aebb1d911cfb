"""What the grader writes for one assignment: grades.csv, feedback per student, a class summary.

``course-mark merge`` (:mod:`course_tools.marking`) completes them with the written answers' marks:
:func:`write_marked_summary` adds the level distribution per criterion to the summary.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from course_tools.cells import MANUAL_PLACEHOLDER  # noqa: E402
from course_tools.grading.analytics import (  # noqa: E402
    CheckStats,
    LevelStats,
    check_stats,
    failures_markdown,
    levels_markdown,
    lowest_first,
)
from course_tools.grading.output import open_fresh, output_folder, write_fresh  # noqa: E402
from course_tools.grading.runner import Assignment, SubmissionResult  # noqa: E402


def safe_name(student: str) -> str:
    """A file name for a student's folder name (``Ana María/`` -> ``Ana_María``)."""
    return re.sub(r"[^\w.-]+", "_", student).strip("._") or "student"


def feedback_names(students: list[str]) -> dict[str, str]:
    """A feedback file name (no suffix) per student: :func:`safe_name`, unique within the class.

    Students whose names become the same file name (also when only the case differs, for macOS and
    Windows) each get a short hash of their own name appended; the others keep the plain name.

    >>> feedback_names(["ana maría", "ana_maría", "bob"])
    {'ana maría': 'ana_maría-e3dad0', 'ana_maría': 'ana_maría-ea0c65', 'bob': 'bob'}
    """
    plain = {student: safe_name(student) for student in students}
    taken = Counter(name.casefold() for name in plain.values())
    return {
        student: name if taken[name.casefold()] == 1 else f"{name}-{hashlib.sha256(student.encode()).hexdigest()[:6]}"
        for student, name in plain.items()
    }


def write_reports(results: list[SubmissionResult], assignment: Assignment, out: Path) -> None:
    """Every file is created fresh, never through a link left in its place (:mod:`.output`)."""
    output_folder(out)
    results = sorted(results, key=lambda r: r.student)
    write_csv(results, assignment, out / "grades.csv")
    output_folder(out / "feedback")
    names = feedback_names([r.student for r in results])
    for result in results:
        write_fresh(out / "feedback" / f"{names[result.student]}.md", feedback_markdown(result, assignment))
    write_summary(results, assignment, out)


def write_csv(results: list[SubmissionResult], assignment: Assignment, path: Path) -> None:
    """One row per student: a column per grade id, the autograded total, empty manual columns."""
    auto = list(assignment.rubric.autograded_points)
    manual = [criterion.grade_id for criterion in assignment.rubric.manual]
    with open_fresh(path, newline="") as f:
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
    write_fresh(out / "summary.md", "\n".join(lines) + "\n")
    _plot_summary(scores, maximum, stats, assignment.name, out / "summary.png")


MARKED_BEGIN, MARKED_END = "<!-- course-mark merge: begin -->", "<!-- course-mark merge: end -->"


def write_marked_summary(
    rows: list[dict[str, str]], checks: dict[str, float], levels: list[LevelStats], out: Path
) -> None:
    """After ``course-mark merge``: the final totals and the levels per written answer in ``summary.md``
    (replacing those of an earlier merge), and ``summary.png`` drawn again with them.

    ``rows`` are the rows of the merged ``grades.csv`` (``final_total`` and ``final_max`` filled),
    ``checks`` the autograded ``{grade_id: points}``.
    """
    graded = [r for r in rows if r["status"].startswith("graded")]
    finals = [float(r["final_total"]) for r in graded if r.get("final_total")]
    maximum = float(rows[0]["final_max"]) if rows else 0.0
    lines = [MARKED_BEGIN, ""]
    if finals:
        ordered = sorted(finals)
        lines += [
            f"Final total with the written answers (out of {maximum:g}), over {len(finals)} fully marked: "
            f"mean {sum(finals) / len(finals):.1f}, median {ordered[len(ordered) // 2]:g}, "
            f"min {ordered[0]:g}, max {ordered[-1]:g}",
            "",
        ]
    lines += [*levels_markdown(levels), "", MARKED_END]
    path = out / "summary.md"
    text = path.read_text() if path.exists() else ""
    text = re.sub(re.escape(MARKED_BEGIN) + ".*?" + re.escape(MARKED_END) + "\n*", "", text, flags=re.S)
    image = "![score distribution and pass rates](summary.png)"
    head, _, tail = text.partition(image)
    write_fresh(path, head.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n\n" + image + tail.rstrip("\n") + "\n")
    stats = [
        CheckStats(gid, pts, len(graded), sum(_points_of(r.get(gid)) >= pts for r in graded))
        for gid, pts in checks.items()
    ]
    scores = finals or [float(r["autograded_total"]) for r in graded]
    what = "final points" if finals else "autograded points"
    top = maximum if finals else sum(checks.values())
    _plot_summary(scores, top, stats, path.parent.name, out / "summary.png", levels, what)


def _points_of(cell: str | None) -> float:
    try:
        return float(cell or 0)
    except ValueError:
        return 0.0


def _plot_summary(
    scores: list[float],
    maximum: float,
    stats: list[CheckStats],
    name: str,
    path: Path,
    levels: list[LevelStats] = (),
    what: str = "autograded points",
) -> None:
    fig, axes = plt.subplots(1, 3 if levels else 2, figsize=(16 if levels else 11, 4), constrained_layout=True)
    left, right = axes[0], axes[1]
    left.hist(scores, bins=min(20, max(5, int(maximum) + 1)), range=(0, maximum), color="tab:blue", edgecolor="white")
    left.set(
        xlabel=f"{what} (out of {maximum:g})",
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
    if levels:
        _plot_levels(axes[2], levels)
    with open_fresh(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)


def _plot_levels(ax, levels: list[LevelStats]) -> None:
    """Students per level, one bar per (criterion, level), each criterion's highest level on top."""
    labels = [f"{s.grade_id}: {level:g}/{s.points:g}" for s in levels for level, _ in s.counts]
    counts = [count for s in levels for _, count in s.counts]
    bars = ax.barh(labels, counts, color="tab:purple")
    ax.bar_label(bars, padding=3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="students", title="Written answers: students per level")
    ax.invert_yaxis()
