"""Retries: exponential back-off with full jitter, and a retry budget.

A retry turns a transient failure into a success at the price of one more call on the
dependency. Back-off spreads the retries out in time; *full jitter* (Brooker, "Exponential
Backoff And Jitter", AWS Architecture Blog, 2015) draws each wait uniformly between 0 and the
exponential bound, so clients that failed together do not retry together:

>>> import random
>>> policy = Backoff(base=0.1, cap=1.0)
>>> [policy.bound(n) for n in (1, 2, 3, 4, 5)]
[0.1, 0.2, 0.4, 0.8, 1.0]
>>> waits = [policy.delay(n, random.Random(1)) for n in (1, 2, 3, 4, 5)]
>>> all(0 <= w <= policy.bound(n) for n, w in zip((1, 2, 3, 4, 5), waits))
True

Back-off does not reduce *how many* retries reach a dependency that keeps failing, only when.
A :class:`RetryBudget` does: it allows retries only as a fraction of first attempts.

>>> budget = RetryBudget(ratio=0.1, reserve=2)
>>> [budget.try_retry() for _ in range(3)]      # the reserve covers two retries ...
[True, True, False]
>>> for _ in range(10):                         # ... ten first attempts earn one more
...     budget.deposit()
>>> budget.try_retry(), budget.try_retry()
(True, False)
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Backoff", "RetryBudget", "retry_call"]

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off: the wait before retry ``n`` (1, 2, ...) is at most ``min(cap, base * 2**(n-1))``.

    With ``jitter=True`` (full jitter) the wait is uniform in ``[0, bound]``; without, it is the bound.
    """

    base: float = 0.1
    cap: float = 10.0
    jitter: bool = True

    def bound(self, retry: int) -> float:
        """The longest wait before retry number ``retry`` (the first retry is 1)."""
        if retry < 1:
            raise ValueError(f"retries are numbered from 1, got {retry}")
        return min(self.cap, self.base * 2 ** (retry - 1))

    def delay(self, retry: int, rng: random.Random) -> float:
        """The wait before retry number ``retry``, drawn with ``rng`` when jittered."""
        bound = self.bound(retry)
        return rng.uniform(0, bound) if self.jitter else bound


class RetryBudget:
    """Retries as a share of traffic: each first attempt deposits ``ratio`` of a retry, each retry
    withdraws one; the balance starts at, and never exceeds, ``reserve``.

    The idea is Finagle's retry budget (Finagle documentation, "Retries"); gRPC's retry throttling
    (gRFC A6) is a close relative. However the dependency fails, retries add at most about
    ``ratio`` calls per request, plus the reserve.
    """

    def __init__(self, ratio: float = 0.1, reserve: float = 10.0) -> None:
        if ratio < 0 or reserve < 0:
            raise ValueError("ratio and reserve must be >= 0")
        self.ratio, self.reserve, self.balance = ratio, reserve, reserve
        self.granted = self.refused = 0

    def deposit(self) -> None:
        """Call once per first attempt."""
        self.balance = min(self.reserve, self.balance + self.ratio)

    def try_retry(self) -> bool:
        """Whether a retry may go ahead now (and, if so, pay for it)."""
        if self.balance >= 1 - 1e-9:  # ten deposits of 0.1 make 0.999... in floating point
            self.balance -= 1
            self.granted += 1
            return True
        self.refused += 1
        return False


def retry_call(
    fn: Callable[[], T],
    *,
    attempts: int,
    backoff: Backoff,
    sleep: Callable[[float], object],
    rng: random.Random,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
) -> T:
    """Call ``fn`` up to ``attempts`` times, sleeping ``backoff.delay(n)`` before retry ``n``.

    The whole idea in a few lines; in an application use ``tenacity``. ``sleep`` is
    ``time.sleep`` in real code and a fake clock's ``advance`` in a simulation.

    >>> from course_lib.caching.clock import FakeClock
    >>> from course_lib.resilience.faults import FlakyService
    >>> clock = FakeClock()
    >>> service = FlakyService(clock, down=[(0, 0.35)], latency=0.1)
    >>> retry_call(service, attempts=5, backoff=Backoff(0.1, jitter=False), sleep=clock.advance,
    ...            rng=random.Random(0)), service.calls
    ('ok', 3)
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except retry_on:
            if attempt == attempts:
                raise
            sleep(backoff.delay(attempt, rng))
    raise AssertionError("unreachable")  # pragma: no cover
