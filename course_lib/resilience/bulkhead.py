"""A bulkhead: a bound on how many calls may wait on one dependency at once.

A service has a fixed number of workers (threads, connections). When one dependency becomes
slow, requests that call it hold their workers longer and longer, until every worker waits on
it and requests that never touch it queue too. A bulkhead (Nygard, *Release It!*, "Bulkheads")
gives that dependency a compartment of its own: at most ``limit`` requests for it at once; the
next is refused at once instead of queueing.

>>> bulkhead = Bulkhead(limit=2)
>>> first, second, third = (bulkhead.try_acquire() for _ in range(3))
>>> first, second, third, bulkhead.in_use, bulkhead.rejected
(True, True, False, 2, 1)
>>> bulkhead.release(); bulkhead.try_acquire()
True

:func:`simulate_service` runs a service with ``workers`` workers and two endpoints, in
simulated time, with and without a bulkhead on the slow one.
"""

from __future__ import annotations

import contextlib
import heapq
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from course_lib.resilience.simulate import poisson_arrivals

__all__ = ["Bulkhead", "BulkheadFull", "ServiceRun", "simulate_service"]


class BulkheadFull(RuntimeError):
    """Raised by :meth:`Bulkhead.enter` when ``limit`` calls are already inside."""


class Bulkhead:
    """At most ``limit`` holders at a time; thread-safe; never blocks (a full bulkhead refuses)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit = limit
        self.in_use = self.peak = self.admitted = self.rejected = 0
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        """Take a place if one is free (True), else count a rejection (False)."""
        with self._lock:
            if self.in_use >= self.limit:
                self.rejected += 1
                return False
            self.in_use += 1
            self.admitted += 1
            self.peak = max(self.peak, self.in_use)
            return True

    def release(self) -> None:
        """Give back a place taken by :meth:`try_acquire`."""
        with self._lock:
            if self.in_use == 0:
                raise RuntimeError("release() without a matching try_acquire()")
            self.in_use -= 1

    @contextlib.contextmanager
    def enter(self) -> Iterator[None]:
        """``with bulkhead.enter(): call()``: raises :class:`BulkheadFull` when there is no place."""
        if not self.try_acquire():
            raise BulkheadFull(f"{self.limit} calls already in progress; refusing instead of queueing")
        try:
            yield
        finally:
            self.release()


@dataclass
class ServiceRun:
    """Per request: endpoint ("fast"/"slow"), latency (s), and whether it answered within the deadline."""

    endpoint: np.ndarray
    latencies: np.ndarray
    succeeded: np.ndarray
    dependency_peak: int
    dependency_calls: int

    def summary(self, endpoint: str) -> dict[str, float]:
        """Success rate and p99 (ms) of one endpoint."""
        mask = self.endpoint == endpoint
        return {
            "success rate": round(float(self.succeeded[mask].mean()), 4),
            "p99 (ms)": round(float(np.percentile(self.latencies[mask], 99)) * 1000, 1),
        }


def simulate_service(
    *,
    workers: int = 16,
    fast_rate: float = 200.0,
    slow_rate: float = 20.0,
    fast_time: float = 0.002,
    slow_time: float = 0.05,
    dependency_slow: tuple[float, float, float] = (20.0, 40.0, 3.0),
    limit: int | None = None,
    deadline: float = 1.0,
    duration: float = 60.0,
    seed: int = 1,
) -> ServiceRun:
    """A service with ``workers`` workers and one FIFO queue, serving two endpoints.

    "fast" requests (``fast_rate`` per second) take ``fast_time`` seconds of a worker; "slow"
    ones (``slow_rate`` per second) call the dependency and take ``slow_time``, except when the
    call starts inside ``dependency_slow = (start, end, seconds)``: then it takes ``seconds``.
    With ``limit``, a bulkhead admits at most ``limit`` slow requests at once (waiting or
    running) and refuses the rest at once. A request succeeds if it is answered within
    ``deadline`` seconds (the user's patience); a worker finishes a request even after that.
    """
    fast = poisson_arrivals(fast_rate, duration, seed)
    slow = poisson_arrivals(slow_rate, duration, seed + 1)
    times = np.concatenate([fast, slow])
    kinds = np.array(["fast"] * len(fast) + ["slow"] * len(slow))
    order = np.argsort(times, kind="stable")
    times, kinds = times[order], kinds[order]
    start_slow, end_slow, slow_seconds = dependency_slow
    free = [0.0] * workers  # when each worker is next free (FIFO: earliest free takes the next request)
    slow_in_system: list[float] = []  # finish times of admitted slow requests
    latencies = np.zeros(len(times))
    ok = np.zeros(len(times), dtype=bool)
    peak = calls = 0
    for i, (t, kind) in enumerate(zip(times.tolist(), kinds.tolist())):
        if kind == "slow":
            while slow_in_system and slow_in_system[0] <= t:
                heapq.heappop(slow_in_system)
            if limit is not None and len(slow_in_system) >= limit:
                continue  # refused at once: latency 0, not a success
        start = max(t, heapq.heappop(free))
        slow_now = kind == "slow" and start_slow <= start < end_slow  # the dependency is slow when called
        finish = start + (fast_time if kind == "fast" else slow_seconds if slow_now else slow_time)
        heapq.heappush(free, finish)
        if kind == "slow":
            heapq.heappush(slow_in_system, finish)
            calls += 1
            peak = max(peak, sum(1 for f in slow_in_system if f > start))
        latencies[i], ok[i] = finish - t, finish - t <= deadline
    return ServiceRun(kinds, latencies, ok, peak, calls)
