"""Exercise 06 graded for real on answers students write: honest alternatives earn every automatic
point, and each plausible wrong answer, which ignores one rule of its task's statement, loses the
check that covers that rule.

One notebook carries an answer for each task, so a grading run tests three answers at once; the
checks of one task do not depend on the others' answers.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from course_tools.authoring import make_student_version
from course_tools.cells import grade_id
from course_tools.grading.runner import Assignment, Limits, grade_submission

ROOT = Path(__file__).resolve().parents[1]
NAME = "06_load_testing_and_resilience"
LIMITS = Limits(cell_timeout=60, submission_timeout=300)
CHECKS = {
    "a": ("breaker_visible", "breaker_hidden"),
    "b": ("corrected_visible", "corrected_hidden"),
    "c": ("balancer_visible", "balancer_hidden"),
}
ANSWER_CELL = {"a": "breaker_answer", "b": "corrected_answer", "c": "balancer_answer"}

# --------------------------------------------------------------------------- task (a): the breaker

BREAKER = """
class Breaker:
    def __init__(self, failure_threshold, reset_timeout, clock):
        self.failure_threshold, self.reset_timeout, self.clock = failure_threshold, reset_timeout, clock
        self.state = "closed"
        self.failures, self.opened_at, self.trial = 0, 0.0, False

    def allow(self):
        if self.state == "open" and {cooled}:
            self.state, self.trial = "half-open", False
        if self.state == "closed":
            return True
        if self.state == "half-open" and {one_trial}:
            self.trial = True
            return True
        return False

    def record(self, ok):
        if self.state == "half-open":
            self.trial = False
            if ok:
                self.state = "closed"
                {reset_on_close}
            else:
                self.state = "open"
                {reopen}
        elif self.state == "closed":
            {count}
            if self.failures >= self.failure_threshold:
                self.state, self.opened_at = "open", self.clock()
        {when_open}
"""
RIGHT_BREAKER = {
    "cooled": "self.clock() >= self.opened_at + self.reset_timeout",
    "one_trial": "not self.trial",
    "reset_on_close": "self.failures = 0",
    "reopen": "self.opened_at = self.clock()",
    "count": "self.failures = 0 if ok else self.failures + 1",
    "when_open": "",
}


def breaker(**changes: str) -> str:
    return BREAKER.format(**(RIGHT_BREAKER | changes)).strip("\n")


#: A breaker as a transition table, the cool-down kept as the time it ends, ``state`` a property.
BREAKER_TABLE = """
class Breaker:
    def __init__(self, failure_threshold, reset_timeout, clock):
        self.limit, self.pause, self.clock = failure_threshold, reset_timeout, clock
        self._state, self._run, self._until, self._probing = "closed", 0, None, False

    @property
    def state(self):
        return self._state

    def _go(self, state):
        self._state = state
        if state == "open":
            self._until = self.clock() + self.pause
        elif state == "closed":
            self._run = 0
        self._probing = False

    def allow(self):
        if self._state == "open" and not self.clock() < self._until:
            self._go("half-open")
        if self._state == "half-open":
            allowed, self._probing = not self._probing, True
            return allowed
        return self._state == "closed"

    def record(self, ok):
        match self._state, ok:
            case "half-open", True:
                self._go("closed")
            case "half-open", False:
                self._go("open")
            case "closed", True:
                self._run = 0
            case "closed", False:
                self._run += 1
                if self._run == self.limit:
                    self._go("open")
"""

#: Correct behaviour, but borrowed: the grader finds the course's breaker in the source.
BREAKER_BORROWED = """
from course_lib.resilience import CircuitBreaker


class Breaker(CircuitBreaker):
    def __init__(self, failure_threshold, reset_timeout, clock):
        super().__init__(failure_threshold, reset_timeout, clock=clock)
"""

#: ``state`` computed from the clock: an open breaker says "half-open" as soon as its cool-down is over.
BREAKER_EAGER = (
    breaker().replace('        self.state = "closed"\n', '        self._state = "closed"\n')
    + """

    @property
    def state(self):
        if self._state == "open" and self.clock() >= self.opened_at + self.reset_timeout:
            return "half-open"
        return self._state

    @state.setter
    def state(self, value):
        self._state = value
"""
)

# --------------------------------------------------------------------------- task (b): the percentile

CORRECTED = """
import math

import numpy as np


def corrected_percentile(records, q, test_end):
    latencies = []
    for intended, started, finished in {rows}:
        {body}
    if not latencies:
        return float("nan")
    return float({percentile})
"""
RIGHT_CORRECTED = {
    "rows": "records",
    "body": (
        "if finished is None or math.isnan(finished):\n            finished = test_end\n"
        "        latencies.append(finished - intended)"
    ),
    "percentile": "np.percentile(latencies, q)",
}


def corrected(**changes: str) -> str:
    return CORRECTED.format(**(RIGHT_CORRECTED | changes)).strip("\n")


#: Vectorised: None becomes NaN in a float array; the percentile by hand, as in exercise 01.
CORRECTED_NUMPY = """
import numpy as np


def corrected_percentile(records, q, test_end):
    table = np.array(records, dtype=float).reshape(-1, 3)
    if table.shape[0] == 0:
        return float("nan")
    done = np.where(np.isnan(table[:, 2]), test_end, table[:, 2])
    values = np.sort(done - table[:, 0])
    rank = (len(values) - 1) * q / 100
    low = int(np.floor(rank))
    high = min(low + 1, len(values) - 1)
    return float(values[low] + (values[high] - values[low]) * (rank - low))
"""

#: Pure Python: NaN found as the value that is not equal to itself; statistics' inclusive quantiles.
CORRECTED_PLAIN = """
import statistics


def corrected_percentile(records, q, test_end):
    waits = []
    for record in records:
        intended, finished = record[0], record[2]
        missing = finished is None or finished != finished
        waits.append((test_end if missing else finished) - intended)
    if len(waits) == 0:
        return float("nan")
    if len(waits) == 1 or q in (0, 100):
        return float(min(waits) if q == 0 else max(waits))
    waits.sort()
    rank = (len(waits) - 1) * q / 100
    low = int(rank)
    return waits[low] + (waits[min(low + 1, len(waits) - 1)] - waits[low]) * (rank - low)
"""

# --------------------------------------------------------------------------- task (c): the balancer

BALANCER = """
def least_connections(n_servers, events, fail_threshold=2):
    ends = [[] for _ in range(n_servers)]
    failed = [0] * n_servers
    up = [True] * n_servers
    picks = []
    for event in events:
        if event[0] == "probe":
            _, t, server, ok = event
            {probe}
            continue
        _, t, duration = event
        ends = [[end for end in server_ends if {still_open}] for server_ends in ends]
        candidates = [s for s in range(n_servers) if up[s]]
        if not candidates:
            picks.append(None)
            continue
        best = {choose}
        ends[best].append(t + duration)
        picks.append(best)
    return picks
"""
RIGHT_BALANCER = {
    "probe": (
        "failed[server] = 0 if ok else failed[server] + 1\n"
        "            if ok:\n                up[server] = True\n"
        "            elif failed[server] >= {threshold}:\n                up[server] = False"
    ),
    "still_open": "end > t",
    "choose": "min(candidates, key=lambda s: (len(ends[s]), s))",
}


def balancer(threshold: str = "fail_threshold", **changes: str) -> str:
    parts = RIGHT_BALANCER | changes
    parts["probe"] = parts["probe"].replace("{threshold}", threshold)
    return BALANCER.format(**parts).strip("\n")


#: One heap of (end, server) for every open connection, and counts per server.
BALANCER_HEAP = """
import heapq


def least_connections(n_servers, events, fail_threshold=2):
    open_count = [0] * n_servers
    ending = []
    misses = [0] * n_servers
    chosen = []
    for kind, t, *rest in events:
        if kind == "probe":
            server, ok = rest
            misses[server] = 0 if ok else misses[server] + 1
            continue
        while ending and ending[0][0] <= t:
            _, server = heapq.heappop(ending)
            open_count[server] -= 1
        healthy = [(open_count[s], s) for s in range(n_servers) if misses[s] < fail_threshold]
        if not healthy:
            chosen.append(None)
            continue
        _, server = min(healthy)
        open_count[server] += 1
        heapq.heappush(ending, (t + rest[0], server))
        chosen.append(server)
    return tuple(chosen)
"""

# --------------------------------------------------------------------------- the notebooks

#: name -> ({task: answer source}, {grade ids that must fail}); every other check must pass.
SUBMISSIONS: dict[str, tuple[dict[str, str], set[str]]] = {
    "alternatives, templated and numpy": ({"a": breaker(), "b": CORRECTED_NUMPY, "c": BALANCER_HEAP}, set()),
    "alternatives, table and plain python": ({"a": BREAKER_TABLE, "b": CORRECTED_PLAIN, "c": balancer()}, set()),
    "cool-down ends after, not at, reset_timeout; from started; ties to the highest index": (
        {
            "a": breaker(cooled="self.clock() > self.opened_at + self.reset_timeout"),
            "b": corrected(body="latencies.append((test_end if finished is None else finished) - started)"),
            "c": balancer(choose="max(candidates, key=lambda s: (-len(ends[s]), s))"),
        },
        {"breaker_visible", "breaker_hidden", "corrected_visible", "corrected_hidden"}
        | {"balancer_visible", "balancer_hidden"},
    ),
    "state changes with the clock; unanswered dropped; an ending connection still counts": (
        {
            "a": BREAKER_EAGER,
            "b": corrected(
                body="if finished is not None and not math.isnan(finished):\n"
                "            latencies.append(finished - intended)"
            ),
            "c": balancer(still_open="end >= t"),
        },
        {"breaker_visible", "breaker_hidden", "corrected_visible", "corrected_hidden"}
        | {"balancer_visible", "balancer_hidden"},
    ),
    "late failures restart the cool-down; NaN not missing; down servers drop connections": (
        {
            "a": breaker(when_open='if self.state == "open" and not ok:\n            self.opened_at = self.clock()'),
            "b": corrected(
                body="if finished is None:\n            finished = test_end\n"
                "        latencies.append(finished - intended)"
            ),
            "c": balancer(
                probe=RIGHT_BALANCER["probe"] + "\n            if not up[server]:\n                ends[server] = []"
            ),
        },
        {"breaker_hidden", "corrected_hidden", "balancer_visible", "balancer_hidden"},
    ),
    "every call through when half-open; records sorted in place; failures counted in total": (
        {
            "a": breaker(one_trial="True"),
            "b": corrected(rows="records", body=RIGHT_CORRECTED["body"]).replace(
                "    latencies = []\n",
                "    latencies = []\n    if isinstance(records, list):\n        records.sort()\n",
            ),
            "c": balancer(
                probe="if ok:\n                up[server] = True\n            else:\n"
                "                failed[server] += 1\n                if failed[server] >= fail_threshold:\n"
                "                    up[server] = False"
            ),
        },
        {"breaker_visible", "breaker_hidden", "corrected_hidden", "balancer_hidden"},
    ),
    "a failed trial keeps the first cool-down; unsent requests dropped; a fixed threshold of 2": (
        {
            "a": breaker(reopen="pass"),
            "b": corrected(
                body="if started is None or (isinstance(started, float) and math.isnan(started)):\n"
                "            continue\n"
                "        missing = finished is None or math.isnan(finished)\n"
                "        latencies.append((test_end if missing else finished) - intended)"
            ),
            "c": balancer(threshold="2"),
        },
        {"breaker_visible", "breaker_hidden", "corrected_hidden", "balancer_visible", "balancer_hidden"},
    ),
    "count kept after closing; nearest rank": (
        {
            "a": breaker(reset_on_close="pass"),
            "b": corrected(percentile="sorted(latencies)[min(len(latencies) - 1, int(len(latencies) * q / 100))]"),
            "c": balancer(),
        },
        {"breaker_visible", "breaker_hidden", "corrected_visible", "corrected_hidden"},
    ),
    "borrowed breaker; unanswered timed from the send": (
        {
            "a": BREAKER_BORROWED,
            "b": corrected(
                body="if finished is None or math.isnan(finished):\n"
                "            latencies.append(test_end - (intended if started is None else started))\n"
                "        else:\n            latencies.append(finished - intended)"
            ),
            "c": BALANCER_HEAP,
        },
        {"breaker_visible", "breaker_hidden", "corrected_visible", "corrected_hidden"},
    ),
    "success does not end the run of failures": (
        {"a": breaker(count="self.failures += 0 if ok else 1"), "b": CORRECTED_PLAIN, "c": balancer()},
        {"breaker_visible", "breaker_hidden"},
    ),
}


@pytest.fixture(scope="module")
def assignment() -> Assignment:
    return Assignment.load(NAME, ROOT / "solutions", ROOT / "rubrics")


def notebook(answers: dict[str, str]) -> nbformat.NotebookNode:
    nb = make_student_version(nbformat.read(ROOT / "solutions" / f"{NAME}.ipynb", as_version=4))
    sources = {ANSWER_CELL[task]: source.strip("\n") for task, source in answers.items()}
    for cell in nb.cells:
        if grade_id(cell) in sources:
            cell.source = sources[grade_id(cell)]
    return nb


@pytest.mark.parametrize("name", list(SUBMISSIONS))
def test_each_answer_earns_exactly_its_checks(name, assignment, tmp_path):
    answers, must_fail = SUBMISSIONS[name]
    path = tmp_path / f"{NAME}.ipynb"
    nbformat.write(notebook(answers), path)
    result = grade_submission(name, path, assignment, LIMITS)
    failed = {gid for gid, cell in result.cells.items() if cell.outcome != "passed"}
    assert failed == must_fail, {gid: result.cells[gid].message for gid in failed ^ must_fail}

    if "borrowed" in name:
        assert "course_lib.resilience.CircuitBreaker" in result.cells["breaker_hidden"].message
