"""What the checks of exercise 02 (profiling and benchmarking) need beyond the general checks.

A graded check hands the student's results to the grader (:func:`course_lib.checks.probe.probe`),
which compares them with the reference solution's in its own process: the inputs must be the same
in both kernels and the results must not depend on the machine. Hence:

- :func:`counted_profile`: a real cProfile table whose clock counts the profiler's events instead
  of seconds, so the same program gives the same table on every run (:func:`sample_program` is
  such a program: a recursive walk is its hot spot);
- :func:`random_profiles`: made-up profile tables with shuffled rows and index labels, half of
  them with the largest own time shared by several rows;
- :func:`tied_shop`: a small shop whose best sellers tie on revenue, with discounts that round
  and a sold book without reviews;
- :func:`frame_state` and :func:`store_state`: a table or a shop as plain values, handed over
  after the student's function has run, so that a change to its input shows;
- :func:`clocks_used` and :func:`counts_a_sleep`: which clocks ``measure``/``compare`` were given,
  and whether a clock is the wall clock (it counts a sleep) or a CPU clock (it does not).

>>> table = counted_profile(sample_program)
>>> row = table.loc[table["tottime"].idxmax()]
>>> row["function"], int(row["ncalls"]), int(row["primitive_calls"])  # recursive: 1,365 calls, 1 from outside
('_flatten', 1365, 1)
>>> counted_profile(sample_program).equals(table)     # the same numbers on every run
True
"""

from __future__ import annotations

import cProfile
import dataclasses
import hashlib
import itertools
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd

from course_lib.profiling.slow_report import Bookstore
from course_lib.profiling.tables import stats_to_frame

__all__ = [
    "clocks_used",
    "counted_profile",
    "counts_a_sleep",
    "frame_state",
    "random_profiles",
    "sample_program",
    "store_state",
    "tied_shop",
]


# --------------------------------------------------------------------------- profiles


def counted_profile(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> pd.DataFrame:
    """``stats_to_frame`` of ``fn(*args, **kwargs)`` profiled with a clock that counts events.

    The clock advances by one microsecond at each call and return the profiler sees, so a
    function's ``tottime`` counts the events while it was running, not seconds: the table is
    the same on any machine and under any load (unlike a profile timed by a real clock).
    """
    ticks = itertools.count()
    profiler = cProfile.Profile(lambda: next(ticks), 1e-6)
    profiler.runcall(fn, *args, **kwargs)
    return stats_to_frame(profiler)


def _nested(depth: int, width: int) -> list:
    return list(range(width)) if depth == 0 else [_nested(depth - 1, width) for _ in range(width)]


def _flatten(node: Any, out: list[str]) -> None:
    if isinstance(node, list):
        for child in node:
            _flatten(child, out)
    else:
        out.append(str(node))


def _is_prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))


def sample_program() -> tuple[int, int]:
    """A small program to profile: flattens a nested list (recursively) and counts primes."""
    out: list[str] = []
    _flatten(_nested(4, 4), out)
    primes = [n for n in range(100) if _is_prime(n)]
    return len(out), len(primes)


def random_profiles(rng: np.random.Generator, sizes: Sequence[int] = (1, 2, 5, 12, 40)) -> list[pd.DataFrame]:
    """Two made-up profile tables per size, rows and index labels shuffled; the second of each pair
    (from two rows on) shares its largest ``tottime`` between two or three rows.

    Columns ``function``, ``ncalls``, ``tottime``, ``cumtime``; names are unique, and their
    alphabetical order and the call counts are unrelated to the order of the rows.

    >>> tables = random_profiles(np.random.default_rng(1), sizes=(6,))
    >>> [len(t) for t in tables], list(tables[0].columns)
    ([6, 6], ['function', 'ncalls', 'tottime', 'cumtime'])
    >>> int((tables[1]["tottime"] == tables[1]["tottime"].max()).sum()) >= 2
    True
    """
    tables = []
    for n in sizes:
        for tied in (False, True):
            if tied and n > 1:
                levels = rng.uniform(0.001, 2.0, max(2, n // 3)).round(6)
                own = rng.choice(levels, n)
                own[rng.choice(n, size=min(n, int(rng.integers(2, 4))), replace=False)] = levels.max()
            else:
                own = rng.permutation(np.linspace(0.001, 2.0, n)).round(6)
            names = [f"f{code:06d}_{i}" for i, code in enumerate(rng.integers(0, 10**6, n))]
            table = pd.DataFrame(
                {
                    "function": names,
                    "ncalls": rng.integers(1, 100_000, n),
                    "tottime": own,
                    "cumtime": (own + rng.uniform(0, 5, n)).round(6),
                },
                index=rng.permutation(n) * 7 + 3,
            )
            tables.append(table.iloc[rng.permutation(n)])
    return tables


def frame_state(frame: pd.DataFrame) -> dict[str, list]:
    """A table as plain data, rows in order: its columns, its index labels and its values.

    >>> frame_state(pd.DataFrame({"a": [1, 2]}, index=[5, 3]))
    {'columns': ['a'], 'index': [5, 3], 'data': [[1], [2]]}
    """
    split = frame.to_dict(orient="split")
    return {"columns": list(split["columns"]), "index": list(split["index"]), "data": split["data"]}


# --------------------------------------------------------------------------- shops


def tied_shop() -> Bookstore:
    """Five books, four of them sold: three tie on revenue (1,000 cents), one of those has no
    reviews, and the best seller's 5% discounts round down per order line.

    Its report, best first, is books 40 (1,042 cents: 521 + 521), 20 (two copies), 10, 30.

    >>> from course_lib.profiling.slow_report import bestseller_report
    >>> [(row["book_id"], row["revenue_cents"], row["stars"]) for row in bestseller_report(tied_shop())]
    [(40, 1042, 4.33), (20, 1000, None), (10, 1000, 3.5), (30, 1000, 5.0)]
    """
    authors = [{"id": 1, "name": "Ana Chen"}, {"id": 2, "name": "Ben Okafor"}]
    books = [
        {"id": book_id, "title": title, "author_id": author, "genre": "fiction", "year": 2001, "price_cents": price}
        for book_id, title, author, price in (
            (30, "The Quiet Harbour", 1, 1000),
            (10, "The Paper Island", 2, 1000),
            (20, "The Last Signal", 1, 500),
            (40, "The Wild Orchard", 2, 549),
            (50, "The Golden Bridge", 1, 2000),
        )
    ]
    sold = ((30, 1, 0), (10, 1, 0), (20, 2, 0), (40, 1, 5), (40, 1, 5))  # (book, quantity, discount %)
    orders = [
        {"id": i, "customer_id": i, "day": i, "discount_pct": discount, "lines": [{"book_id": b, "quantity": q}]}
        for i, (b, q, discount) in enumerate(sold, start=1)
    ]
    reviews = [
        {"book_id": book_id, "stars": stars, "text": "fine"}
        for book_id, stars in ((30, 5), (10, 4), (10, 3), (40, 4), (40, 4), (40, 5), (50, 2))
    ]
    return Bookstore(authors, books, orders, reviews)


def store_state(store: Bookstore) -> str:
    """A fingerprint of every list and value of the shop, in order (SHA-256 of its JSON).

    >>> store = tied_shop()
    >>> before = store_state(store)
    >>> store.books.sort(key=lambda book: book["id"])    # sorting the caller's list in place ...
    >>> store_state(store) == before                     # ... changes the shop
    False
    """
    text = json.dumps(dataclasses.asdict(store), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- clocks


@contextmanager
def clocks_used() -> Iterator[list[Callable[[], float]]]:
    """The clocks (``timer=``) that the harness's ``measure`` and ``compare`` were given in the block.

    >>> from course_lib.measuring.harness import compare
    >>> with clocks_used() as clocks:
    ...     _ = compare(sorted, list, [2, 1], repeats=3, warmup=0, number=1, timer=time.thread_time)
    >>> clocks == [time.thread_time]
    True
    """
    from course_lib.measuring import harness

    used: list[Callable[[], float]] = []
    real = harness._run

    def spy(*args: Any, **kwargs: Any) -> Any:
        used.append(kwargs["timer"] if "timer" in kwargs else args[4])
        return real(*args, **kwargs)

    with mock.patch.object(harness, "_run", spy):
        yield used


def counts_a_sleep(clock: Callable[[], float], seconds: float = 0.05) -> bool:
    """Whether ``clock`` advances by most of a ``seconds``-long sleep: a wall clock does, a CPU clock
    (``time.thread_time``, ``time.process_time``) does not, whatever else the machine is doing.

    >>> counts_a_sleep(time.perf_counter), counts_a_sleep(time.thread_time)
    (True, False)
    """
    start = clock()
    time.sleep(seconds)
    return clock() - start >= 0.8 * seconds
