"""Checks a student's code cannot fool: each attack on exercise 01's checks, as a generated notebook.

Every attacker writes no correct function; before the trusted model, each of these attacks earned
full or partial automatic marks, because the checks ran in the student's kernel after the student's
code. Now the checks hand the student's values to the grader, which compares them with the
reference solution's in its own process: the attacks earn nothing. A student's honest
alternative solution still earns every point. README's attack table points here.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from course_tools.cells import cell_role, grade_id
from course_tools.grading.cli import grade_class
from course_tools.grading.runner import Assignment, Limits

ROOT = Path(__file__).resolve().parents[1]
NAME = "01_performance_fundamentals"
LIMITS = Limits(cell_timeout=60, submission_timeout=300)

#: Wrong answers: nearest-rank percentile, histograms and rates off by one, no Little's law.
WRONG = {
    "percentile_answer": (
        "def percentile(samples, q):\n"
        "    data = sorted(samples)\n"
        "    return data[min(len(data) - 1, int(len(data) * q / 100))]\n"
    ),
    "histogram_answer": "def latency_histogram(samples, bin_edges):\n    return [0] * (len(bin_edges) - 1)\n",
    "littles_law_answer": (
        "def mean_in_flight(rate, latency_ms):\n    return rate * latency_ms\n\n"
        "def workers_needed(rate, latency_ms, u):\n    return 1\n"
    ),
    "distribution_answer": (
        "def fraction_slower_than(samples, threshold):\n    return 0.5\n\n"
        "def first_breaching_percentile(samples, threshold, qs=(50, 90, 95, 99, 99.9)):\n    return 99\n"
    ),
}

#: Each attack goes first in the percentile answer cell, before the wrong percentile (unless it
#: defines its own).
ATTACKS = {
    # the check helpers, redefined where the check cells import them from
    "helpers_redefined": (
        "import course_lib.checks, course_lib.checks.calls, course_lib.checks.core\n"
        "for _module in (course_lib.checks, course_lib.checks.calls):\n"
        "    _module.check_cases = _module.check_result = lambda *a, **k: None\n"
        "course_lib.checks.core.check_true = lambda *a, **k: None\n"
    ),
    # a private function of the checks, replaced
    "private_replaced": ("import course_lib.checks.calls\ncourse_lib.checks.calls._run_case = lambda *a, **k: None\n"),
    # math.isclose always true, and numbers whose == is always true
    "isclose_and_eq": (
        "import math\nmath.isclose = lambda *a, **k: True\n"
        "class Anything(float):\n    def __eq__(self, other):\n        return True\n"
        "    def __ne__(self, other):\n        return False\n    __hash__ = float.__hash__\n"
        "def percentile(samples, q):\n    return Anything(0.0)\n"
    ),
    # builtins that lie only when the checks call them
    "lying_builtins": (
        "import builtins, sys\n_all, _abs = builtins.all, builtins.abs\n"
        "def _from_checks():\n    return 'course_lib' in sys._getframe(2).f_globals.get('__name__', '')\n"
        "builtins.all = lambda it: True if _from_checks() else _all(it)\n"
        "builtins.abs = lambda x: 0 if _from_checks() else _abs(x)\n"
    ),
    # the kernel's execute reply: every error becomes "ok", and no traceback is shown
    "errors_become_ok": (
        "import functools\nip = get_ipython()\nip.showtraceback = lambda *a, **k: None\n"
        "_original = ip.kernel.do_execute\n"
        "@functools.wraps(_original)\n"
        "async def _ok(*args, **kwargs):\n"
        "    reply = await _original(*args, **kwargs)\n"
        "    if reply.get('status') == 'error':\n"
        "        reply = {'status': 'ok', 'execution_count': reply.get('execution_count'), 'payload': [],\n"
        "                 'user_expressions': {}}\n"
        "    return reply\n"
        "ip.kernel.do_execute = _ok\n"
    ),
    # the hidden tests' old reference, numpy.percentile, replaced by the student's wrong function
    "reference_replaced": (
        "import numpy as np\n"
        "def _nearest(samples, q, *args, **kwargs):\n"
        "    data = sorted(samples)\n"
        "    return data[min(len(data) - 1, int(len(data) * q / 100))]\n"
        "np.percentile = _nearest\n"
    ),
}
#: The forbidden shortcut, taken under another name before any spy exists: right values, no points.
SHORTCUT = "from numpy import percentile as _p\n\ndef percentile(samples, q):\n    return float(_p(list(samples), q))\n"


def _notebook(answers: dict[str, str]) -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / "exercises" / f"{NAME}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell_role(cell) == "answer" and grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    return nb


def _solution_answers() -> dict[str, str]:
    nb = nbformat.read(ROOT / "solutions" / f"{NAME}.ipynb", as_version=4)
    return {grade_id(c): c.source for c in nb.cells if cell_role(c) == "answer"}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    assignment = Assignment.load(NAME, ROOT / "solutions", ROOT / "rubrics")
    submissions = tmp_path_factory.mktemp("class")
    students = {}
    for name, attack in ATTACKS.items():
        own = "def percentile" in attack
        students[name] = _notebook({**WRONG, "percentile_answer": attack + ("" if own else WRONG["percentile_answer"])})
    students["shortcut"] = _notebook({**_solution_answers(), "percentile_answer": SHORTCUT})
    students["honest"] = _notebook(_solution_answers())
    for name, nb in students.items():
        (submissions / name).mkdir()
        nbformat.write(nb, submissions / name / f"{NAME}.ipynb")
    results = grade_class(submissions, assignment, tmp_path_factory.mktemp("out"), LIMITS, jobs=2, progress=lambda _: 0)
    return assignment, {r.student: r for r in results}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attack_earns_nothing_on_trusted_checks(graded, attack):
    assignment, results = graded
    earned = {g: c.points for g, c in results[attack].cells.items() if g in assignment.trusted and c.points}
    assert earned == {}


def test_every_check_of_exercise_01_is_trusted(graded):
    assignment, _ = graded
    assert assignment.trusted == frozenset(assignment.rubric.autograded_points)


def test_a_forbidden_shortcut_under_another_name_earns_nothing(graded):
    _, results = graded
    cells = results["shortcut"].cells
    assert cells["percentile_visible"].points == cells["percentile_hidden"].points == 0
    assert "numpy.percentile" in cells["percentile_hidden"].message
    assert cells["histogram_visible"].outcome == "passed"  # the rest of the answers are right


def test_the_honest_solution_earns_everything(graded):
    assignment, results = graded
    assert results["honest"].total == assignment.rubric.autograded_total
    assert results["honest"].status == "graded"
