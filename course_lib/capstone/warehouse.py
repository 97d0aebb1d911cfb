"""The bookstore's stock service: a slow, flaky dependency under your control, for the capstone.

:class:`Warehouse` stands for a legacy SDK the bookstore must call to know how many copies of a
book are in stock. Its one call, :meth:`Warehouse.stock`, **blocks** the calling thread for
``latency`` seconds (like a synchronous HTTP client) and can fail with :class:`WarehouseError`:

- at random, with probability ``error_rate`` (seeded), as a transient error;
- for the next ``n`` calls, after :meth:`Warehouse.fail_next` (a controlled transient failure);
- on every call while ``down`` is true (an outage).

It counts its calls, failures, the calls made from a thread that runs an event loop
(``loop_calls``: each of them blocks that loop) and the most calls it ever had in progress at
once (``peak``), which is how a check can tell whether calls overlap without timing anything.
Inside :meth:`Warehouse.rendezvous`, each call made off an event loop waits until ``n`` calls are
in progress together (or, as a safety net, ``timeout`` seconds): calls made from parallel threads
meet as soon as they are all started, however busy the machine; a call made on an event loop's
thread does not wait at all (it blocks that loop, so no other call could join it).

>>> w = Warehouse(latency=0)
>>> w.stock(12), w.calls, w.peak
(15, 1, 1)
>>> w.loop_calls
0
>>> w.fail_next(1)
>>> try:
...     w.stock(12)
... except WarehouseError as error:
...     print(error)
warehouse: transient error (book 12)

A runaway retry loop is stopped: after ``max_calls`` calls the warehouse raises
:class:`RetryStorm` (not a ``WarehouseError``, so a retry loop does not catch it).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Warehouse", "WarehouseError", "RetryStorm", "stock_level"]


class WarehouseError(RuntimeError):
    """The warehouse could not answer this call (transient error or outage)."""


class RetryStorm(RuntimeError):
    """The warehouse got more than ``max_calls`` calls: a retry loop without a bound."""


def stock_level(book_id: int) -> int:
    """The number of copies of ``book_id`` in stock (a fixed function of the id, 0 to 22)."""
    return (book_id * 7919) % 23


def _on_event_loop() -> bool:
    """Whether the calling thread is running an event loop (a blocking call there blocks it)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class Warehouse:
    """A blocking, flaky stock service (see the module docstring); thread-safe."""

    def __init__(
        self, latency: float = 0.02, *, error_rate: float = 0.0, seed: int = 0, max_calls: int = 100_000
    ) -> None:
        if latency < 0 or not 0 <= error_rate < 1:
            raise ValueError(f"need latency >= 0 and 0 <= error_rate < 1, got {latency!r}, {error_rate!r}")
        self.latency, self.error_rate, self.max_calls = latency, error_rate, max_calls
        self.down = False
        self.calls = self.failures = self.in_flight = self.peak = self.loop_calls = 0
        self._fail_next = 0
        self._rng = random.Random(seed)
        self._meet: tuple[int, float] | None = None
        self._cond = threading.Condition()

    def fail_next(self, n: int) -> None:
        """Make the next ``n`` calls fail with a transient :class:`WarehouseError`."""
        with self._cond:
            self._fail_next = n

    @contextmanager
    def rendezvous(self, n: int, timeout: float = 5.0) -> Iterator[Warehouse]:
        """Inside the block, each call made off an event loop waits until ``n`` calls are in progress
        (``timeout`` s at most: a safety net, never reached by parallel calls)."""
        with self._cond:
            self._meet, self.peak = (n, timeout), self.in_flight
        try:
            yield self
        finally:
            with self._cond:
                self._meet = None
                self._cond.notify_all()

    def stock(self, book_id: int) -> int:
        """Copies of ``book_id`` in stock; blocks for ``latency`` s; may raise :class:`WarehouseError`."""
        on_loop = _on_event_loop()
        with self._cond:
            self.calls += 1
            if self.calls > self.max_calls:
                raise RetryStorm(f"warehouse: {self.calls} calls, over max_calls={self.max_calls}: unbounded retries?")
            self.in_flight += 1
            self.loop_calls += on_loop
            self.peak = max(self.peak, self.in_flight)
            self._cond.notify_all()
            if self._meet is not None and not on_loop:
                n, timeout = self._meet
                self._cond.wait_for(lambda: self.peak >= n or self._meet is None, timeout)
            failing = self.down or self._fail_next > 0 or self._rng.random() < self.error_rate
            kind = "outage" if self.down else "transient error"
            if self._fail_next > 0:
                self._fail_next -= 1
        try:
            if self.latency:
                time.sleep(self.latency)
            if failing:
                with self._cond:
                    self.failures += 1
                raise WarehouseError(f"warehouse: {kind} (book {book_id})")
            return stock_level(book_id)
        finally:
            with self._cond:
                self.in_flight -= 1
