"""A dependency that misbehaves on purpose: seeded latency, errors, and outages, in simulated time.

Two forms of the same idea:

- :class:`Dependency` is a model for the event simulation (:mod:`course_lib.resilience.simulate`):
  ``call(t)`` says when the answer to a call made at simulated time ``t`` comes back and
  whether it is a success. It can have a capacity (a number of servers with a FIFO queue).
- :class:`FlakyService` is a real Python function for real client code (``tenacity``,
  ``pybreaker``): each call moves a :class:`~course_lib.caching.clock.FakeClock` forward by its
  latency and raises :class:`DependencyError` when it fails.

>>> dep = Dependency(latency=0.02, outages=[Outage(10, 20, "error")], seed=1)
>>> dep.call(15.0)                    # during the outage: refused at once
(15.0, False)
>>> when, ok = dep.call(30.0)
>>> ok, 30.0 < when < 31.0, dep.calls
(True, True, 2)
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from course_lib.caching.clock import FakeClock

__all__ = ["Dependency", "DependencyError", "FlakyService", "Outage"]


@dataclass(frozen=True)
class Outage:
    """A window ``[start, end)`` of simulated seconds in which the dependency misbehaves.

    ``kind`` says how: ``"error"`` refuses every call at once; ``"hang"`` accepts calls and
    never answers (the connection is reset when the outage ends); ``"stall"`` stops serving, so
    calls wait in its queue and are served, late, after the outage (needs ``servers``).
    """

    start: float
    end: float
    kind: Literal["error", "hang", "stall"] = "error"

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(f"an outage needs start < end, got [{self.start}, {self.end})")
        if self.kind not in ("error", "hang", "stall"):
            raise ValueError(f"kind must be 'error', 'hang' or 'stall', got {self.kind!r}")

    def covers(self, t: float) -> bool:
        """Whether simulated time ``t`` falls inside the outage."""
        return self.start <= t < self.end


class Dependency:
    """A simulated downstream service, for :func:`course_lib.resilience.simulate.run`.

    Each call's service time is exponential with mean ``latency`` seconds; with probability
    ``slow_share`` it is ``slow_latency`` instead (a long tail); with probability ``error_rate``
    the answer is an error. ``servers=None`` means unlimited capacity (calls never wait for each
    other); ``servers=k`` means k servers in front of one FIFO queue, so the dependency can be
    overloaded. Every call is counted in :attr:`call_times`, whatever the client does with it:
    that is the load the dependency sees.
    """

    def __init__(
        self,
        *,
        latency: float = 0.02,
        slow_share: float = 0.0,
        slow_latency: float = 5.0,
        error_rate: float = 0.0,
        outages: Sequence[Outage] = (),
        servers: int | None = None,
        seed: int = 0,
    ) -> None:
        if latency <= 0 or slow_latency <= 0:
            raise ValueError("latency and slow_latency must be positive (seconds)")
        if not (0 <= slow_share <= 1 and 0 <= error_rate <= 1):
            raise ValueError("slow_share and error_rate are probabilities between 0 and 1")
        if servers is None and any(o.kind == "stall" for o in outages):
            raise ValueError("a 'stall' outage needs a queue: give the dependency servers=k")
        self.latency, self.slow_share, self.slow_latency = latency, slow_share, slow_latency
        self.error_rate, self.outages, self.servers = error_rate, tuple(outages), servers
        self._rng = random.Random(seed)
        self._free = [0.0] * servers if servers else []
        self.call_times: list[float] = []

    @property
    def calls(self) -> int:
        """How many calls the dependency has received."""
        return len(self.call_times)

    def call(self, t: float) -> tuple[float, bool]:
        """A call made at simulated time ``t`` (calls must come in time order): ``(answer_time, ok)``."""
        self.call_times.append(t)
        rng = self._rng
        service = self.slow_latency if rng.random() < self.slow_share else rng.expovariate(1 / self.latency)
        ok = rng.random() >= self.error_rate
        for outage in self.outages:
            if outage.covers(t) and outage.kind == "error":
                return t, False
            if outage.covers(t) and outage.kind == "hang":
                return outage.end, False
        if not self.servers:
            return t + service, ok
        start = max(t, heapq.heappop(self._free))
        for outage in self.outages:
            if outage.kind == "stall" and outage.covers(start):
                start = outage.end
        heapq.heappush(self._free, start + service)
        return start + service, ok


class DependencyError(RuntimeError):
    """Raised by :class:`FlakyService` when a call fails."""


class FlakyService:
    """A function that fails on schedule, on a fake clock: for real retry and breaker code.

    Each call advances ``clock`` by ``latency`` seconds and then fails if the clock is inside one
    of ``down`` (a list of ``(start, end)`` windows) or, with probability ``error_rate``, at
    random (seeded). It counts its calls.

    >>> clock = FakeClock()
    >>> service = FlakyService(clock, down=[(0, 1)], latency=0.5)
    >>> for _ in range(3):
    ...     try:
    ...         print(service(), clock())
    ...     except DependencyError as error:
    ...         print(error)
    down at t=0.5
    ok 1.0
    ok 1.5
    >>> service.calls, service.failures
    (3, 1)
    """

    def __init__(
        self,
        clock: FakeClock,
        *,
        down: Sequence[tuple[float, float]] = (),
        error_rate: float = 0.0,
        latency: float = 0.01,
        seed: int = 0,
    ) -> None:
        self.clock, self.down, self.error_rate, self.latency = clock, tuple(down), error_rate, latency
        self._rng = random.Random(seed)
        self.calls = self.failures = 0

    def __call__(self) -> str:
        self.calls += 1
        now = self.clock.advance(self.latency)
        if any(start <= now < end for start, end in self.down):
            self.failures += 1
            raise DependencyError(f"down at t={now:g}")
        if self._rng.random() < self.error_rate:
            self.failures += 1
            raise DependencyError(f"transient error at t={now:g}")
        return "ok"
