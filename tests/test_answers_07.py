"""The capstone (exercise 07) graded for real on partial and wrong answers.

A student who fixed only the N+1 queries earns exactly task (a)'s checks: the other tasks' stubs
still raise, so their checks and the SLO budget (which needs every part) fail. A student whose
cache never invalidates and whose retries never stop (with back-off, so they look careful) loses
those two tasks' checks and keeps all the others, the SLO budget included (the fixed workload
writes nothing and the warehouse always answers in the end). Two gradings, about a minute each.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import yaml
from grading_fixtures import outcomes_with_answers

from course_tools.cells import grade_id

ROOT = Path(__file__).resolve().parents[1]
NAME = "07_capstone_slo"
ALL_CHECKS = [
    entry["grade_id"] for entry in yaml.safe_load((ROOT / "rubrics" / f"{NAME}.yml").read_text())["autograded"]
]


def _stubs() -> dict[str, str]:
    """The answer cells as the student gets them (the generated exercise), by grade id."""
    nb = nbformat.read(ROOT / "exercises" / f"{NAME}.ipynb", as_version=4)
    return {
        grade_id(cell): cell.source
        for cell in nb.cells
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code"
    }


CACHE_WITHOUT_INVALIDATION = """
import json


class AuthorCache:
    def __init__(self, store):
        self.store = store

    def read(self, author_id, load):
        cached = self.store.get(f"author:{author_id}")
        if cached is not None:
            return json.loads(cached)
        value = load()
        self.store.set(f"author:{author_id}", json.dumps(value).encode(), ttl=300)
        return value

    def invalidate(self, author_id):
        pass  # the TTL will do
"""

UNBOUNDED_RETRY = """
from course_lib.capstone import WarehouseError


async def with_retries(call, sleep):
    wait = 0.01
    while True:
        try:
            return await call()
        except WarehouseError:
            await sleep(wait)
            wait = min(2 * wait, 1.0)
"""


def _half_done() -> dict[str, str]:
    stubs = _stubs()
    return {
        gid: stubs[gid] for gid in ("index_answer", "cache_answer", "loop_answer", "retry_answer", "metrics_answer")
    }


CASES = {
    "only the N+1 queries fixed": (_half_done, {"queries_visible", "queries_hidden", "queries_budget"}),
    "a cache without invalidation, retries without a bound": (
        lambda: {"cache_answer": CACHE_WITHOUT_INVALIDATION, "retry_answer": UNBOUNDED_RETRY},
        set(ALL_CHECKS) - {"cache_visible", "cache_hidden", "cache_hits", "retry_visible", "retry_bounded"},
    ),
}


def test_the_stubs_are_the_generated_ones():
    assert set(_half_done()) | {"queries_answer"} == set(_stubs())
    assert all("NotImplementedError" in source for source in _half_done().values())


@pytest.mark.parametrize("case", CASES)
def test_answers(tmp_path: Path, case: str) -> None:
    answers, passing = CASES[case]
    outcomes = outcomes_with_answers(NAME, answers(), tmp_path, ROOT)
    assert set(outcomes) == set(ALL_CHECKS)
    assert outcomes == {gid: "passed" if gid in passing else "failed" for gid in ALL_CHECKS}
