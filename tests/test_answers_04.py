"""Exercise 04 graded for real with answers students write: honest alternatives earn every point,
and a wrong answer that ignores one clause of a task loses the check that covers the clause.

Each notebook is the solution with some answer cells replaced (by grade id); one notebook carries
one answer per task, so that a few gradings cover many answers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from grading_fixtures import outcomes_with_answers

ROOT = Path(__file__).resolve().parents[1]
NAME = "04_caching"

# --------------------------------------------------------------------------- task (a)

LFU_MIN_COUNT = """
from collections import OrderedDict, defaultdict


class LFU:
    def __init__(self, capacity):
        self.capacity = capacity
        self.hits = self.misses = self.evictions = 0
        self.data = {}                          # key -> [value, use count]
        self.by_count = defaultdict(OrderedDict)
        self.min_count = 0

    def get(self, key):
        if key not in self.data:
            self.misses += 1
            return None
        self.hits += 1
        count = self.data[key][1]
        del self.by_count[count][key]
        if not self.by_count[count]:
            del self.by_count[count]
            if self.min_count == count:
                self.min_count = count + 1
        self.data[key][1] = count + 1
        self.by_count[count + 1][key] = None
        return self.data[key][0]

    def put(self, key, value):
        if len(self.data) >= self.capacity:
            victim, _ = self.by_count[self.min_count].popitem(last=False)
            if not self.by_count[self.min_count]:
                del self.by_count[self.min_count]
            del self.data[victim]
            self.evictions += 1
        self.data[key] = [value, 1]
        self.by_count[1][key] = None
        self.min_count = 1
"""

LFU_SCAN = """
class LFU:
    def __init__(self, capacity):
        self.capacity = capacity
        self.hits = self.misses = self.evictions = 0
        self.entries = {}                       # key -> (value, use count, last use)
        self.clock = 0

    def get(self, key):
        self.clock += 1
        if key not in self.entries:
            self.misses += 1
            return None
        self.hits += 1
        value, count, _ = self.entries[key]
        self.entries[key] = (value, count + 1, self.clock)
        return value

    def put(self, key, value):
        self.clock += 1
        if len(self.entries) >= self.capacity:
            del self.entries[min(self.entries, key=lambda k: self.entries[k][1:])]
            self.evictions += 1
        self.entries[key] = (value, 1, self.clock)
"""
#: among equal counts, the most recently used goes ("used least recently" ignored)
LFU_NEWEST = LFU_SCAN.replace(
    "key=lambda k: self.entries[k][1:]", "key=lambda k: (self.entries[k][1], -self.entries[k][2])"
)
#: among equal counts, the first inserted goes (a hit does not count as a use)
LFU_INSERTION = LFU_SCAN.replace("(value, count + 1, self.clock)", "(value, count + 1, _)")
LFU_DELEGATING = """
import cachetools


class LFU:
    def __init__(self, capacity):
        self.cache = cachetools.LFUCache(capacity)
        self.hits = self.misses = self.evictions = 0

    def get(self, key):
        if key in self.cache:
            self.hits += 1
            return self.cache[key]
        self.misses += 1
        return None

    def put(self, key, value):
        self.evictions += len(self.cache) >= self.cache.maxsize
        self.cache[key] = value
"""

# --------------------------------------------------------------------------- task (b)

ASIDE_COURSE_LIB = """
from course_lib.caching import CacheAside


def _books(shop, store):
    def load(book_id):
        with shop.session() as session:
            return load_book(session, book_id)
    return CacheAside(load, store, ttl=300, namespace="book")


def get_book(shop, store, book_id):
    return _books(shop, store)(book_id)


def update_price(shop, store, book_id, price_cents):
    with shop.session() as session:
        set_price(session, book_id, price_cents)
    _books(shop, store).invalidate(book_id)
"""
ASIDE_WRITE_THROUGH = """
import json


def get_book(shop, store, book_id):
    cached = store.get(f"b{book_id}")
    if cached is not None:
        return json.loads(cached)
    with shop.session() as session:
        book = load_book(session, book_id)
    store.set(f"b{book_id}", json.dumps(book).encode(), ttl=300)
    return book


def update_price(shop, store, book_id, price_cents):
    with shop.session() as session:
        set_price(session, book_id, price_cents)
        book = load_book(session, book_id)
    store.set(f"b{book_id}", json.dumps(book).encode(), ttl=300)
"""
ASIDE = """
def get_book(shop, store, book_id):
    cached = store.get(f"book:{book_id}")
    if cached is not None:
        return orjson.loads(cached)
    with shop.session() as session:
        book = load_book(session, book_id)
    STORE
    return book


def update_price(shop, store, book_id, price_cents):
    with shop.session() as session:
        set_price(session, book_id, price_cents)
    INVALIDATE
"""


def _aside(store: str = 'store.set(f"book:{book_id}", orjson.dumps(book), ttl=300)', invalidate: bool = True) -> str:
    return ASIDE.replace("STORE", store).replace("INVALIDATE", 'store.delete(f"book:{book_id}")' if invalidate else "")


ASIDE_NO_CACHE = """
def get_book(shop, store, book_id):
    with shop.session() as session:
        return load_book(session, book_id)


def update_price(shop, store, book_id, price_cents):
    with shop.session() as session:
        set_price(session, book_id, price_cents)
"""

# --------------------------------------------------------------------------- task (c)

GUARD_EVENTS = """
_flights = {}
_flights_lock = threading.Lock()


def get_guarded(store, key, load):
    while True:
        value = store.get(key)
        if value is not None:
            return value
        with _flights_lock:
            flight = _flights.get(key)
            leader = flight is None
            if leader:
                flight = _flights[key] = threading.Event()
        if not leader:
            flight.wait()
            continue
        try:
            value = store.get(key)
            if value is None:
                value = load(key)
                store.set(key, value, ttl=60)
            return value
        finally:
            with _flights_lock:
                del _flights[key]
            flight.set()
"""
GUARD = """
_locks = {}
_locks_lock = threading.Lock()


def get_guarded(store, key, load):
    value = store.get(key)
    if value is not None:
        return value
    with _locks_lock:
        lock = _locks.setdefault(key, threading.Lock())
    BODY
    return value
"""
GUARD_NO_RECHECK = GUARD.replace("BODY", "with lock:\n        value = load(key)\n        store.set(key, value, ttl=60)")
GUARD_ONE_LOCK = GUARD.replace(
    "_locks.setdefault(key, threading.Lock())", "_locks.setdefault('all', threading.Lock())"
).replace(
    "BODY",
    "with lock:\n        value = store.get(key)\n        if value is None:\n"
    "            value = load(key)\n            store.set(key, value, ttl=60)",
)
GUARD_LEAKS_LOCK = GUARD.replace(
    "BODY",
    "lock.acquire()\n    value = store.get(key)\n    if value is None:\n"
    "        value = load(key)\n        store.set(key, value, ttl=60)\n    lock.release()",
)
GUARD_NO_TTL = GUARD.replace(
    "BODY",
    "with lock:\n        value = store.get(key)\n        if value is None:\n"
    "            value = load(key)\n            store.set(key, value)",
)

ALL_CHECKS = "lfu_visible lfu_hidden aside_visible aside_hidden aside_queries_hidden guard_visible guard_hidden".split()
ASIDE_CHECKS = {"aside_visible", "aside_hidden", "aside_queries_hidden"}

#: name -> (answers by grade id, checks that must fail; every other check must pass)
CASES: dict[str, tuple[dict[str, str], set[str]]] = {
    "LFU with a lowest count, CacheAside, single flight with events": (
        {"lfu_answer": LFU_MIN_COUNT, "aside_answer": ASIDE_COURSE_LIB, "guard_answer": GUARD_EVENTS},
        set(),
    ),
    "LFU by scanning, write-through with json": (
        {"lfu_answer": LFU_SCAN, "aside_answer": ASIDE_WRITE_THROUGH},
        set(),
    ),
    "ties to the newest, no invalidation, no second look": (
        {"lfu_answer": LFU_NEWEST, "aside_answer": _aside(invalidate=False), "guard_answer": GUARD_NO_RECHECK},
        {"lfu_visible", "lfu_hidden", *ASIDE_CHECKS, "guard_visible", "guard_hidden"},
    ),
    "ties by insertion, no cache, one lock for all keys": (
        {"lfu_answer": LFU_INSERTION, "aside_answer": ASIDE_NO_CACHE, "guard_answer": GUARD_ONE_LOCK},
        {"lfu_visible", "lfu_hidden", *ASIDE_CHECKS, "guard_hidden"},
    ),
    "cachetools inside, no TTL, a lock left held": (
        {
            "lfu_answer": LFU_DELEGATING,
            "aside_answer": _aside(store='store.set(f"book:{book_id}", orjson.dumps(book))'),
            "guard_answer": GUARD_LEAKS_LOCK,
        },
        {"lfu_visible", "lfu_hidden", "aside_queries_hidden", "guard_hidden"},
    ),
    "unknown books not cached, the guard's value without TTL": (
        {
            "aside_answer": _aside(
                store='if book is not None:\n        store.set(f"book:{book_id}", orjson.dumps(book), ttl=300)'
            ),
            "guard_answer": GUARD_NO_TTL,
        },
        {"aside_queries_hidden", "guard_hidden"},
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_answers(tmp_path: Path, case: str) -> None:
    answers, failing = CASES[case]
    outcomes = outcomes_with_answers(NAME, answers, tmp_path, ROOT)
    assert set(outcomes) == set(ALL_CHECKS)
    expected = {gid: "failed" if gid in failing else "passed" for gid in ALL_CHECKS}
    assert outcomes == expected
