"""Learning analytics for the class summary: per check, the pass rate and what went wrong most often;
per written answer (after ``course-mark merge``), how many students reached each level.

Failure messages are grouped after :func:`normalise_message` has reduced each one to the mistake
it describes, so that the same mistake made by different students (with different numbers, object
addresses or long values in the message) is counted once.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from course_tools.grading.runner import CellResult, SubmissionResult

HIDDEN_NO_MESSAGE = "(hidden test: no message)"
NOT_RUN = "(did not run: the notebook stopped before this check)"
NO_MESSAGE = "(no message)"
TOP = 3  # failure groups listed per check
MAX_KEY = 160  # characters of a group's text in the summary

_CHECK_FAILED = "✗ Check failed:"
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w]*\.)*([A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt|Failed))\b(.*)$")
_ADDRESS_REPR = re.compile(r"<[^<>\n]*? at 0x[0-9a-fA-F]+>")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_LONG_SPANS = (
    (re.compile(r"\[[^\[\]\n]{30,}\]"), "[…]"),
    (re.compile(r"\([^()\n]{30,}\)"), "(…)"),
    (re.compile(r"\{[^{}\n]{30,}\}"), "{…}"),
    (re.compile(r"'[^'\n]{30,}'"), "'…'"),
    (re.compile(r'"[^"\n]{30,}"'), '"…"'),
)
_NUMBER = re.compile(r"(?<![A-Za-z_\d.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def normalise_message(message: str) -> str:
    """The mistake a failure message describes, on one line, without what varies from student to student.

    Keeps the ``✗ Check failed: ...`` line if there is one, else the last exception line of a
    traceback (``SomeError: ...``, module path dropped), else the first line; then the ``hint:``
    line if any. Blanks out memory addresses and reprs holding them, long bracketed or quoted
    values, and numbers (counts, times, sizes); collapses spaces; cuts to ``MAX_KEY`` characters.

    >>> normalise_message("✗ Check failed: the counts\\n  expected: [1, 3]\\n  got:      [1, 2]\\n  hint: count once")
    '✗ Check failed: the counts / hint: count once'
    >>> normalise_message("Cell In[7], line 2\\n----> 2 assert f()\\nAssertionError: took 0.53 s, 12 calls")
    'AssertionError: took N s, N calls'
    >>> normalise_message("TypeError: <function f at 0x7f3a2b> is not iterable")
    'TypeError: <…> is not iterable'
    """
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    check = next((line for line in lines if _CHECK_FAILED in line), None)
    if check is not None:
        key = check[check.index(_CHECK_FAILED) :]
    else:
        exceptions = [m for m in map(_EXCEPTION_LINE.match, lines) if m]
        key = "".join(exceptions[-1].groups()) if exceptions else lines[0]
    hint = next((line for line in lines if line.lower().startswith("hint:")), None)
    if hint is not None and hint != key:
        key += " / " + hint
    key = _ADDRESS_REPR.sub("<…>", key)
    key = _ADDRESS.sub("0x…", key)
    for pattern, blank in _LONG_SPANS:
        key = pattern.sub(blank, key)
    key = _NUMBER.sub("N", key)
    key = re.sub(r"\s+", " ", key).strip()
    return key if len(key) <= MAX_KEY else key[: MAX_KEY - 1] + "…"


def failure_key(cell: CellResult, hidden: bool = False) -> str:
    """The group a check that did not pass falls into."""
    if cell.outcome == "not run":
        return NOT_RUN
    key = normalise_message(cell.message)
    if key:
        return key
    return HIDDEN_NO_MESSAGE if hidden else NO_MESSAGE


def group_failures(cells: Iterable[CellResult], hidden: bool = False, top: int = TOP) -> list[tuple[str, int]]:
    """The ``top`` most common failure groups among ``cells`` (passed ones ignored), most common first.

    Ties are listed in alphabetical order, so the result does not depend on the order of students.

    >>> from course_tools.grading.runner import CellResult
    >>> cells = [CellResult("f", "failed", 0, 2, f"AssertionError: f({n}) should be {n + 1}") for n in (1, 5)]
    >>> group_failures(cells + [CellResult("f", "passed", 2, 2)])
    [('AssertionError: f(N) should be N', 2)]
    """
    counts = Counter(failure_key(cell, hidden) for cell in cells if cell.outcome != "passed")
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]


@dataclass
class CheckStats:
    """One autograded check across the graded submissions."""

    grade_id: str
    points: float
    graded: int
    passed: int
    failures: list[tuple[str, int]] = field(default_factory=list)  # (message group, students), most common first

    @property
    def rate(self) -> float:
        return self.passed / self.graded if self.graded else 0.0


def check_stats(
    results: Iterable[SubmissionResult], points: Mapping[str, float], hidden: Iterable[str] = (), top: int = TOP
) -> list[CheckStats]:
    """Per check (in ``points`` order), pass rate and top failure groups over the graded submissions."""
    graded = [r for r in results if r.status.startswith("graded")]
    hidden = set(hidden)
    stats = []
    for gid, pts in points.items():
        cells = [r.cells[gid] for r in graded if gid in r.cells]
        stats.append(
            CheckStats(
                gid,
                float(pts),
                len(graded),
                sum(c.outcome == "passed" for c in cells),
                group_failures(cells, gid in hidden, top),
            )
        )
    return stats


def lowest_first(stats: Iterable[CheckStats]) -> list[CheckStats]:
    """The checks sorted by pass rate, the one the class missed most first (ties keep their order)."""
    return sorted(stats, key=lambda s: s.rate)


def failures_markdown(stats: list[CheckStats]) -> list[str]:
    """The ``## What went wrong most often`` section of ``summary.md``, as lines."""
    lines = [
        "## What went wrong most often",
        "",
        f"Checks from the lowest pass rate up; for each, the {TOP} most common failure messages with the "
        "number of students. Numbers, addresses and long values in messages are blanked out (N, …) "
        "so that the same mistake counts once.",
        "",
    ]
    if not stats or not stats[0].graded:
        return lines + ["No graded submissions."]
    missed = [s for s in lowest_first(stats) if s.passed < s.graded]
    for s in missed:
        lines += [f"### {s.grade_id}: {s.rate:.0%} passed ({s.passed} of {s.graded})", ""]
        lines += [f"- {count} × `{_code(text)}`" for text, count in s.failures]
        lines.append("")
    everyone = [s.grade_id for s in stats if s.passed == s.graded]
    if everyone:
        lines.append("Everyone passed: " + ", ".join(everyone) + ".")
    while lines[-1] == "":
        lines.pop()
    return lines


def _code(text: str) -> str:
    """``text`` safe inside a Markdown code span."""
    return text.replace("`", "'")


# --------------------------------------------------------------------------- written answers


@dataclass
class LevelStats:
    """One written-answer criterion across the class: students per level, and how many are not marked."""

    grade_id: str
    points: float
    counts: list[tuple[float, int]]  # (level's points, students), highest level first
    unmarked: int = 0

    @property
    def marked(self) -> int:
        return sum(count for _, count in self.counts)


def level_stats(grade_id: str, points: float, levels: Sequence[float], given: Iterable[float | None]) -> LevelStats:
    """Students per level of a criterion: ``levels`` are its levels' points (empty if it has none,
    then each mark given is its own level), ``given`` the level of each student (``None``: not marked).

    >>> level_stats("slo", 4, [4, 3, 2, 1, 0], [3, 4, 3, None, 0]).counts
    [(4, 1), (3, 2), (2, 0), (1, 0), (0, 1)]
    >>> level_stats("essay", 2, [], [1.5, 2, 1.5]).counts
    [(2, 1), (1.5, 2)]
    """
    given = list(given)
    counts = Counter(level for level in given if level is not None)
    shown = sorted(set(levels) or set(counts), reverse=True)
    return LevelStats(grade_id, float(points), [(level, counts[level]) for level in shown], given.count(None))


def levels_markdown(stats: list[LevelStats]) -> list[str]:
    """The ``## Written answers: levels`` section of ``summary.md``, as lines."""
    lines = ["## Written answers: levels", ""]
    for s in stats:
        lines += [f"### {s.grade_id} ({s.points:g} points): {s.marked} marked", ""]
        lines += ["| level (points) | students | share |", "|---|---|---|"]
        lines += [f"| {level:g} | {count} | {count / s.marked if s.marked else 0:.0%} |" for level, count in s.counts]
        if s.unmarked:
            lines += ["", f"Not marked yet: {s.unmarked}."]
        lines.append("")
    return lines[:-1]
