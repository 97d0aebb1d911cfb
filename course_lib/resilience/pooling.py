"""Does an object pool save garbage-collection work in CPython? Count it instead of guessing.

CPython frees most objects by reference counting, the moment the last reference goes. The
cyclic garbage collector is extra: it runs a generation-0 collection when the number of
container objects allocated minus those freed since the last one passes a threshold
(``gc.get_threshold()[0]``, 700 by default up to Python 3.12; Python documentation, ``gc``
module and "Garbage collector design" in the CPython developer guide). So objects that die
young, before that count is reached, trigger no collection at all; objects that are alive in
large numbers at the same time do.

:func:`gc_activity` counts collections per generation and the time spent in them, through
``gc.callbacks``:

>>> with gc_activity() as activity:
...     rows = [Record(i, "book", 1.0) for i in range(5000)]      # 5,000 live containers
>>> activity.collections[0] >= 5
True
>>> pool = RecordPool(5000)
>>> with gc_activity() as pooled:
...     rows = pool.acquire(5000)
...     pool.release(rows)
>>> pooled.collections[0]
0
"""

from __future__ import annotations

import contextlib
import gc
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["GcActivity", "Record", "RecordPool", "gc_activity", "handle_new", "handle_pooled", "traced_peak"]


@dataclass
class GcActivity:
    """Collections per generation (0, 1, 2) and seconds spent collecting, inside a ``with`` block."""

    collections: list[int] = field(default_factory=lambda: [0, 0, 0])
    seconds: float = 0.0
    _started: float = 0.0

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1


@contextlib.contextmanager
def gc_activity() -> Iterator[GcActivity]:
    """Count the garbage collector's runs (and their time) while the block runs; any thread's
    allocations count, as they do for the collector itself."""
    activity = GcActivity()
    gc.callbacks.append(activity._callback)
    try:
        yield activity
    finally:
        gc.callbacks.remove(activity._callback)


class Record:
    """One row of a response: a small object, tracked by the garbage collector like any instance."""

    __slots__ = ("id", "title", "price")

    def __init__(self, id: int, title: str, price: float) -> None:  # noqa: A002 - a row's field
        self.id, self.title, self.price = id, title, price


class RecordPool:
    """A free list of :class:`Record` objects, created up front and reused."""

    def __init__(self, size: int) -> None:
        self._free = [Record(0, "", 0.0) for _ in range(size)]

    def acquire(self, n: int) -> list[Record]:
        """``n`` records from the pool (raises if it holds fewer)."""
        if n > len(self._free):
            raise ValueError(f"the pool holds {len(self._free)} free records, asked for {n}")
        taken = self._free[-n:]
        del self._free[-n:]
        return taken

    def release(self, records: list[Record]) -> None:
        """Give records back for reuse."""
        self._free.extend(records)


def handle_new(rows: int) -> float:
    """A request handler: build ``rows`` new records, compute a total from them, drop them."""
    records = [Record(i, "book", i * 0.5) for i in range(rows)]
    return sum(r.price for r in records)


def handle_pooled(pool: RecordPool, rows: int) -> float:
    """The same handler with records taken from ``pool``, refilled, and given back."""
    records = pool.acquire(rows)
    for i, record in enumerate(records):
        record.id, record.title, record.price = i, "book", i * 0.5
    total = sum(r.price for r in records)
    pool.release(records)
    return total


def traced_peak(fn, *args: object) -> tuple[int, int]:  # noqa: ANN001 - any callable
    """``(peak bytes, bytes still held)`` that Python allocated during ``fn(*args)`` (tracemalloc)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        fn(*args)
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before, after - before
