"""Exercise 01 graded for real: honest answers earn every point, plausible wrong ones lose a check.

Strong students write other algorithms than the reference solution (numpy, pure Python, exact
fractions, bisection), and each of those must earn every automatic point. A wrong answer that
ignores one clause of a task statement (the last edge of a histogram, a whole number of workers
that floating point lands just above, a percentile equal to the threshold...) must lose the check
that covers that clause, and only that task's checks.

To keep the run short, one notebook carries one answer per task: each alternative notebook holds
four honest answers, each wrong-answer notebook one wrong answer per task (the i-th of each task's
list), and the checks a notebook must lose are those of its wrong answers.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from course_tools.cells import cell_role, grade_id
from course_tools.grading.runner import Assignment, Limits, grade_submission

ROOT = Path(__file__).resolve().parents[1]
NAME = "01_performance_fundamentals"
CHECKS = {
    "percentile_answer": ("percentile_visible", "percentile_hidden"),
    "histogram_answer": ("histogram_visible", "histogram_hidden"),
    "littles_law_answer": ("littles_law_visible", "littles_law_hidden"),
    "distribution_answer": ("distribution_visible", "distribution_hidden"),
}
VISIBLE, HIDDEN = 0, 1

# --------------------------------------------------------------------------- honest alternatives

ALTERNATIVES: dict[str, dict[str, str]] = {
    "numpy": {
        "percentile_answer": """
def percentile(samples, q):
    x = np.sort(np.asarray(samples, dtype=float))
    r = (x.size - 1) * q / 100
    i = int(r)
    if i >= x.size - 1:
        return x[-1]
    f = r - i
    return x[i] * (1 - f) + x[i + 1] * f
""",
        "histogram_answer": """
def latency_histogram(samples, bin_edges):
    x = np.asarray(samples, dtype=float)
    edges = np.asarray(bin_edges, dtype=float)
    k = edges.size - 1
    idx = np.searchsorted(edges, x, side="right") - 1
    idx[x == edges[-1]] = k - 1
    return np.bincount(idx[(idx >= 0) & (idx < k)], minlength=k)
""",
        "littles_law_answer": """
def mean_in_flight(arrival_rate_per_s, mean_latency_ms):
    return arrival_rate_per_s * (mean_latency_ms / 1000)

def workers_needed(arrival_rate_per_s, mean_latency_ms, max_utilisation):
    return np.ceil(mean_in_flight(arrival_rate_per_s, mean_latency_ms) / max_utilisation - 1e-9)
""",
        "distribution_answer": """
def fraction_slower_than(samples, threshold_ms):
    x = np.asarray(samples)
    return np.count_nonzero(x > threshold_ms) / x.size

def first_breaching_percentile(samples, threshold_ms, qs=(50, 90, 95, 99, 99.9)):
    return min((q for q in qs if percentile(samples, q) > threshold_ms), default=None)
""",
    },
    "pure_python": {
        "percentile_answer": """
def percentile(samples, q):
    values = sorted(samples)
    rank = q / 100 * (len(values) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return values[low] + (rank - low) * (values[high] - values[low])
""",
        "histogram_answer": """
def latency_histogram(samples, bin_edges):
    edges = list(bin_edges)
    last = len(edges) - 2
    return [sum(1 for x in samples if edges[i] <= x < edges[i + 1] or (i == last and x == edges[i + 1]))
            for i in range(len(edges) - 1)]
""",
        "littles_law_answer": """
from fractions import Fraction

def mean_in_flight(arrival_rate_per_s, mean_latency_ms):
    return arrival_rate_per_s * mean_latency_ms / 1000

def workers_needed(arrival_rate_per_s, mean_latency_ms, max_utilisation):
    exact = Fraction(str(arrival_rate_per_s)) * Fraction(str(mean_latency_ms)) / 1000 / Fraction(str(max_utilisation))
    return math.ceil(exact)
""",
        "distribution_answer": """
def fraction_slower_than(samples, threshold_ms):
    values = list(samples)
    return sum(1 for x in values if x > threshold_ms) / len(values)

def first_breaching_percentile(samples, threshold_ms, qs=(50, 90, 95, 99, 99.9)):
    for q in sorted(qs):
        if percentile(samples, q) > threshold_ms:
            return q
    return None
""",
    },
    "bisection": {
        "percentile_answer": """
def percentile(samples, q):
    values = sorted(list(samples))
    n = len(values)
    if n == 1:
        return values[0]
    pos = (n - 1) * q / 100
    i = min(int(pos), n - 2)
    return values[i] + (values[i + 1] - values[i]) * (pos - i)
""",
        "histogram_answer": """
import bisect

def latency_histogram(samples, bin_edges):
    edges = [float(e) for e in bin_edges]
    counts = [0] * (len(edges) - 1)
    for x in samples:
        i = bisect.bisect_right(edges, x) - 1
        if i == len(edges) - 1 and x == edges[-1]:
            i -= 1
        if 0 <= i < len(counts):
            counts[i] += 1
    return tuple(counts)
""",
        "littles_law_answer": """
def mean_in_flight(arrival_rate_per_s, mean_latency_ms):
    return arrival_rate_per_s / 1000 * mean_latency_ms

def workers_needed(arrival_rate_per_s, mean_latency_ms, max_utilisation):
    busy = mean_in_flight(arrival_rate_per_s, mean_latency_ms)
    workers = max(1, math.floor(busy / max_utilisation) - 1)
    while workers * max_utilisation < busy - 1e-9:  # utilisation = busy / workers
        workers += 1
    return workers
""",
        "distribution_answer": """
import bisect

def fraction_slower_than(samples, threshold_ms):
    values = sorted(samples)
    return (len(values) - bisect.bisect_right(values, threshold_ms)) / len(values)

def first_breaching_percentile(samples, threshold_ms, qs=(50, 90, 95, 99, 99.9)):
    ordered = sorted(qs)
    values = [percentile(samples, q) for q in ordered]
    i = bisect.bisect_right(values, threshold_ms)
    return ordered[i] if i < len(ordered) else None
""",
    },
}

# --------------------------------------------------------------------------- wrong answers

BOTH, ONLY_HIDDEN = (VISIBLE, HIDDEN), (HIDDEN,)

#: Task (d)'s wrong answers use a right percentile of their own, so that only their own clause
#: is wrong (with the notebook's percentile, a wrong task (a) would cost task (d) as well).
_PERCENTILE = """
def _percentile(samples, q):
    values = sorted(samples)
    rank = (len(values) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (rank - low)
"""
_FRACTION = (
    _PERCENTILE
    + """
def fraction_slower_than(samples, threshold_ms):
    return float(np.mean(np.asarray(samples, dtype=float) > threshold_ms))
"""
)
_FIRST = "def first_breaching_percentile(samples, threshold_ms, qs=(50, 90, 95, 99, 99.9)):\n"
_MEAN = (
    "def mean_in_flight(arrival_rate_per_s, mean_latency_ms):\n    return arrival_rate_per_s * mean_latency_ms / 1000\n"
)
_WORKERS = "def workers_needed(arrival_rate_per_s, mean_latency_ms, max_utilisation):\n"
_RATIO = "    ratio = mean_in_flight(arrival_rate_per_s, mean_latency_ms) / max_utilisation\n"

#: Per answer cell: (the clause ignored, the wrong answer, which of the task's checks it loses).
WRONG: dict[str, list[tuple[str, str, tuple[int, ...]]]] = {
    "percentile_answer": [
        (
            "sort the samples",
            "def percentile(samples, q):\n    values = list(samples)\n    rank = (len(values) - 1) * q / 100\n"
            "    low = math.floor(rank)\n    high = min(low + 1, len(values) - 1)\n"
            "    return values[low] + (values[high] - values[low]) * (rank - low)\n",
            BOTH,
        ),
        (
            "rank (n - 1) q / 100",
            "def percentile(samples, q):\n    values = sorted(samples)\n"
            "    rank = min(len(values) * q / 100, len(values) - 1)\n"
            "    low = math.floor(rank)\n    high = min(low + 1, len(values) - 1)\n"
            "    return values[low] + (values[high] - values[low]) * (rank - low)\n",
            BOTH,
        ),
        (
            "interpolate",
            "def percentile(samples, q):\n    values = sorted(samples)\n"
            "    return values[math.floor((len(values) - 1) * q / 100)]\n",
            BOTH,
        ),
        (
            "do not change the caller's data",
            "def percentile(samples, q):\n    values = samples if isinstance(samples, list) else sorted(samples)\n"
            "    values.sort()\n    rank = (len(values) - 1) * q / 100\n    low = math.floor(rank)\n"
            "    high = min(low + 1, len(values) - 1)\n"
            "    return values[low] + (values[high] - values[low]) * (rank - low)\n",
            BOTH,
        ),
        (
            "just x_i when i = n - 1",
            "def percentile(samples, q):\n    values = sorted(samples)\n    rank = (len(values) - 1) * q / 100\n"
            "    low = math.floor(rank)\n    return values[low] + (values[low + 1] - values[low]) * (rank - low)\n",
            BOTH,
        ),
        (
            "a list, a tuple or a numpy array",
            "def percentile(samples, q):\n    values = samples.copy()\n    values.sort()\n"
            "    rank = (len(values) - 1) * q / 100\n    low = math.floor(rank)\n"
            "    high = min(low + 1, len(values) - 1)\n"
            "    return values[low] + (values[high] - values[low]) * (rank - low)\n",
            ONLY_HIDDEN,
        ),
        (
            "do not call numpy.quantile",
            "import numpy as np\n\ndef percentile(samples, q):\n    return float(np.quantile(samples, q / 100))\n",
            BOTH,
        ),
        (
            "do not call numpy.percentile (taken under another name)",
            "from numpy import percentile as _p\n\ndef percentile(samples, q):\n    return float(_p(samples, q))\n",
            BOTH,
        ),
    ],
    "histogram_answer": [
        (
            "the last bin holds its right edge",
            "import bisect\n\ndef latency_histogram(samples, bin_edges):\n    edges = list(bin_edges)\n"
            "    counts = [0] * (len(edges) - 1)\n    for x in samples:\n        if edges[0] <= x < edges[-1]:\n"
            "            counts[bisect.bisect_right(edges, x) - 1] += 1\n    return counts\n",
            BOTH,
        ),
        (
            "left edge <= x < right edge",
            "import bisect\n\ndef latency_histogram(samples, bin_edges):\n    edges = list(bin_edges)\n"
            "    counts = [0] * (len(edges) - 1)\n    for x in samples:\n        if edges[0] < x <= edges[-1]:\n"
            "            counts[bisect.bisect_left(edges, x) - 1] += 1\n        elif x == edges[0]:\n"
            "            counts[0] += 1\n    return counts\n",
            BOTH,
        ),
        (
            "samples outside the edges are not counted",
            "import bisect\n\ndef latency_histogram(samples, bin_edges):\n    edges = list(bin_edges)\n"
            "    counts = [0] * (len(edges) - 1)\n    for x in samples:\n"
            "        i = min(max(bisect.bisect_right(edges, x) - 1, 0), len(counts) - 1)\n"
            "        counts[i] += 1\n    return counts\n",
            BOTH,
        ),
        (
            "lists, tuples or numpy arrays",
            "import bisect\n\ndef latency_histogram(samples, bin_edges):\n    edges = bin_edges + [float('inf')]\n"
            "    counts = [0] * (len(bin_edges) - 1)\n    for x in samples:\n        if x == bin_edges[-1]:\n"
            "            counts[-1] += 1\n        elif bin_edges[0] <= x < bin_edges[-1]:\n"
            "            counts[bisect.bisect_right(edges, x) - 1] += 1\n    return counts\n",
            ONLY_HIDDEN,
        ),
        (
            "no samples gives k zeros",
            "def latency_histogram(samples, bin_edges):\n    if len(samples) == 0:\n        return []\n"
            "    x = np.asarray(samples, dtype=float)\n    edges = np.asarray(bin_edges, dtype=float)\n"
            "    idx = np.searchsorted(edges, x, side='right') - 1\n    idx[x == edges[-1]] = edges.size - 2\n"
            "    return np.bincount(idx[(idx >= 0) & (idx < edges.size - 1)], minlength=edges.size - 1)\n",
            ONLY_HIDDEN,
        ),
        (
            "do not call numpy.histogram",
            "def latency_histogram(samples, bin_edges):\n"
            "    return np.histogram(samples, bins=bin_edges)[0].tolist()\n",
            ONLY_HIDDEN,
        ),
    ],
    "littles_law_answer": [
        (
            "latency in milliseconds",
            "def mean_in_flight(arrival_rate_per_s, mean_latency_ms):\n"
            "    return arrival_rate_per_s * mean_latency_ms\n\n"
            + _WORKERS
            + "    return math.ceil(arrival_rate_per_s * mean_latency_ms / 1000 / max_utilisation)\n",
            BOTH,
        ),
        (
            "a ratio within 1e-9 of a whole number is that number",
            _MEAN + "\n" + _WORKERS + _RATIO + "    return math.ceil(ratio)\n",
            ONLY_HIDDEN,
        ),
        (
            "round up (a whole ratio needs no extra worker)",
            _MEAN + "\n" + _WORKERS + _RATIO + "    return int(ratio) + 1\n",
            ONLY_HIDDEN,
        ),
        ("round up, not to the nearest", _MEAN + "\n" + _WORKERS + _RATIO + "    return round(ratio)\n", ONLY_HIDDEN),
        (
            "divide by the utilisation",
            _MEAN
            + "\n"
            + _WORKERS
            + "    return math.ceil(mean_in_flight(arrival_rate_per_s, mean_latency_ms) * max_utilisation)\n",
            BOTH,
        ),
    ],
    "distribution_answer": [
        (
            "strictly greater (fraction)",
            _PERCENTILE + "def fraction_slower_than(samples, threshold_ms):\n"
            "    return float(np.mean(np.asarray(samples, dtype=float) >= threshold_ms))\n\n"
            + _FIRST
            + "    return next((q for q in sorted(qs) if _percentile(samples, q) > threshold_ms), None)\n",
            BOTH,
        ),
        (
            "a fraction, not a percentage",
            _PERCENTILE + "def fraction_slower_than(samples, threshold_ms):\n"
            "    return 100 * float(np.mean(np.asarray(samples, dtype=float) > threshold_ms))\n\n"
            + _FIRST
            + "    return next((q for q in sorted(qs) if _percentile(samples, q) > threshold_ms), None)\n",
            BOTH,
        ),
        (
            "qs in any order",
            _FRACTION
            + "\n"
            + _FIRST
            + "    return next((q for q in qs if _percentile(samples, q) > threshold_ms), None)\n",
            ONLY_HIDDEN,
        ),
        (
            "a percentile equal to the threshold does not breach",
            _FRACTION
            + "\n"
            + _FIRST
            + "    return next((q for q in sorted(qs) if _percentile(samples, q) >= threshold_ms), None)\n",
            ONLY_HIDDEN,
        ),
        (
            "the smallest q even when several q have the same percentile",
            _FRACTION
            + "\n"
            + _FIRST
            + "    for q in sorted(qs, key=lambda q: _percentile(samples, q)):\n"
            + "        if _percentile(samples, q) > threshold_ms:\n            return q\n    return None\n",
            ONLY_HIDDEN,
        ),
        (
            "the percentile, not the fraction above the threshold",
            _FRACTION
            + "\n"
            + _FIRST
            + "    over = fraction_slower_than(samples, threshold_ms)\n"
            + "    return min((q for q in qs if q / 100 > 1 - over), default=None)\n",
            ONLY_HIDDEN,
        ),
        (
            "the default qs include 99.9",
            _FRACTION
            + "\ndef first_breaching_percentile(samples, threshold_ms, qs=(50, 90, 95, 99)):\n"
            + "    return next((q for q in sorted(qs) if _percentile(samples, q) > threshold_ms), None)\n",
            ONLY_HIDDEN,
        ),
        (
            "None for an empty qs",
            _FRACTION
            + "\n"
            + _FIRST
            + "    ordered = sorted(qs)\n"
            + "    if _percentile(samples, ordered[-1]) <= threshold_ms:\n        return None\n"
            + "    return next(q for q in ordered if _percentile(samples, q) > threshold_ms)\n",
            ONLY_HIDDEN,
        ),
        (
            "the first q of the sorted list is compared too",
            _FRACTION
            + "\n"
            + _FIRST
            + "    ordered = sorted(qs)\n    for low, high in zip(ordered, ordered[1:]):\n"
            + "        if _percentile(samples, high) > threshold_ms:\n            return high\n    return None\n",
            ONLY_HIDDEN,
        ),
        (
            "do not change the samples",
            _FRACTION
            + "\n"
            + _FIRST
            + "    if isinstance(samples, np.ndarray):\n        samples.sort()\n"
            + "    return next((q for q in sorted(qs) if _percentile(samples, q) > threshold_ms), None)\n",
            BOTH,
        ),
    ],
}


def _solution_answers() -> dict[str, str]:
    nb = nbformat.read(ROOT / "solutions" / f"{NAME}.ipynb", as_version=4)
    return {
        grade_id(c): re.sub(r"\n *### (BEGIN|END) SOLUTION", "", c.source) for c in nb.cells if cell_role(c) == "answer"
    }


def _notebook(answers: dict[str, str]) -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / "exercises" / f"{NAME}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell_role(cell) == "answer" and grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)].strip("\n")
    return nb


def _wrong_notebooks() -> list[tuple[str, dict[str, str], set[str]]]:
    """The i-th wrong answer of each task in notebook i; the checks it must lose."""
    notebooks = []
    for i in range(max(len(answers) for answers in WRONG.values())):
        answers, lose, labels = {}, set(), []
        for cell, wrong in WRONG.items():
            if i < len(wrong):
                label, source, which = wrong[i]
                answers[cell] = source
                lose |= {CHECKS[cell][index] for index in which}
                labels.append(label)
        notebooks.append((" / ".join(labels), answers, lose))
    return notebooks


WRONG_NOTEBOOKS = _wrong_notebooks()


@pytest.fixture(scope="module")
def assignment() -> Assignment:
    return Assignment.load(NAME, ROOT / "solutions", ROOT / "rubrics")


def _outcomes(assignment: Assignment, answers: dict[str, str], folder: Path) -> dict[str, str]:
    path = folder / f"{NAME}.ipynb"
    nbformat.write(_notebook({**_solution_answers(), **answers}), path)
    result = grade_submission(folder.name, path, assignment, Limits())
    assert result.status == "graded", result.status
    return {gid: cell.outcome for gid, cell in result.cells.items()}


def test_every_check_is_trusted(assignment):
    assert assignment.trusted == frozenset(assignment.rubric.autograded_points)


@pytest.mark.parametrize("name", sorted(ALTERNATIVES))
def test_an_honest_alternative_earns_every_point(assignment, name, tmp_path):
    outcomes = _outcomes(assignment, ALTERNATIVES[name], tmp_path)
    assert {gid for gid, outcome in outcomes.items() if outcome != "passed"} == set()


@pytest.mark.parametrize(
    ("clauses", "answers", "lose"), WRONG_NOTEBOOKS, ids=[f"wrong{i}" for i in range(len(WRONG_NOTEBOOKS))]
)
def test_a_wrong_answer_loses_the_check_of_the_clause_it_ignores(assignment, clauses, answers, lose, tmp_path):
    outcomes = _outcomes(assignment, answers, tmp_path)
    failed = {gid for gid, outcome in outcomes.items() if outcome != "passed"}
    assert failed == lose, f"ignoring: {clauses}"


def test_numpy_percentile_through_the_setup_cells_import_loses_both_checks(assignment, tmp_path):
    """``np`` comes from the exercise's unchanged setup cell: the grader resolves it all the same."""
    answers = {"percentile_answer": "def percentile(samples, q):\n    return float(np.percentile(samples, q))\n"}
    outcomes = _outcomes(assignment, answers, tmp_path)
    assert {gid for gid, outcome in outcomes.items() if outcome != "passed"} == set(CHECKS["percentile_answer"])
