"""A client calling a simulated dependency, with and without timeouts, retries and a breaker.

Everything happens in simulated time (an event queue on a :class:`FakeClock`), so a run of a
simulated minute takes a fraction of a second and gives the same numbers on every machine.
Requests arrive as a seeded Poisson process; each one calls the :class:`Dependency` and, as the
:class:`Client` says, gives up after a timeout, retries with back-off (within a budget), or is
turned away by a circuit breaker. :func:`run` returns what the users saw (success, latency) and
what the dependency saw (its calls).

>>> from course_lib.resilience.faults import Dependency
>>> plain = run(Dependency(error_rate=0.1, seed=1), Client(), rate=100, duration=10)
>>> retried = run(Dependency(error_rate=0.1, seed=1), Client(retries=3, backoff=Backoff(0.05)), rate=100, duration=10)
>>> plain.success_rate < 0.95 < 0.99 < retried.success_rate
True
>>> 1.0 == plain.calls_per_request < retried.calls_per_request < 1.2
True
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from course_lib.caching.clock import Clock, FakeClock
from course_lib.resilience.breaker import CircuitBreaker
from course_lib.resilience.faults import Dependency
from course_lib.resilience.retry import Backoff, RetryBudget

__all__ = ["Client", "Outcome", "outcome_table", "poisson_arrivals", "run"]

_ATTEMPT, _ANSWER = 0, 1


@dataclass(frozen=True)
class Client:
    """How the caller treats the dependency.

    ``timeout``: seconds to wait for an answer (None: wait for ever). ``retries``: extra attempts
    after a failure or timeout. ``backoff``: the wait before each retry (None: retry at once).
    ``budget``: a :class:`RetryBudget` ratio (None: no budget). ``breaker``: a factory
    ``clock -> CircuitBreaker`` (None: no breaker).
    """

    timeout: float | None = None
    retries: int = 0
    backoff: Backoff | None = None
    budget: float | None = None
    breaker: Callable[[Clock], CircuitBreaker] | None = None


@dataclass
class Outcome:
    """One run: per request, its latency (seconds, as the user saw it) and whether it succeeded;
    the times of every call the dependency received."""

    latencies: np.ndarray
    succeeded: np.ndarray
    call_times: np.ndarray
    duration: float
    rejected: int = 0
    breaker: CircuitBreaker | None = field(default=None, repr=False)

    @property
    def requests(self) -> int:
        """How many requests arrived."""
        return len(self.latencies)

    @property
    def success_rate(self) -> float:
        """Share of requests that got a successful answer."""
        return float(self.succeeded.mean())

    @property
    def p99(self) -> float:
        """99th percentile of latency over all requests, failed ones included (seconds)."""
        return float(np.percentile(self.latencies, 99))

    @property
    def calls_per_request(self) -> float:
        """Calls the dependency received per request: the load a pattern puts on it."""
        return len(self.call_times) / self.requests

    def calls_per_second(self, bin_seconds: float = 1.0) -> np.ndarray:
        """Calls the dependency received in each ``bin_seconds`` of the run, per second."""
        edges = np.arange(0, self.duration + bin_seconds, bin_seconds)
        counts, _ = np.histogram(self.call_times, bins=edges)
        return counts / bin_seconds

    @property
    def peak_calls_per_second(self) -> float:
        """The most calls the dependency received in any one second of the run."""
        return float(self.calls_per_second().max())

    def summary(self) -> dict[str, float]:
        """The row a table shows: success rate, p99 (ms), calls per request, peak calls per second."""
        return {
            "success rate": round(self.success_rate, 4),
            "p99 (ms)": round(self.p99 * 1000, 1),
            "dependency calls per request": round(self.calls_per_request, 3),
            "dependency peak calls/s": self.peak_calls_per_second,
        }


def poisson_arrivals(rate: float, duration: float, seed: int) -> np.ndarray:
    """Arrival times (seconds) of a Poisson process of ``rate`` per second over ``duration`` seconds."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1 / rate, size=int(rate * duration * 1.2) + 100)
    times = np.cumsum(gaps)
    return times[times < duration]


def run(
    dependency: Dependency,
    client: Client,
    *,
    rate: float = 100.0,
    duration: float = 60.0,
    seed: int = 1,
) -> Outcome:
    """Send ``rate`` requests per second for ``duration`` simulated seconds through ``client`` to ``dependency``."""
    arrivals = poisson_arrivals(rate, duration, seed)
    clock = FakeClock()
    breaker = client.breaker(clock) if client.breaker else None
    budget = RetryBudget(client.budget) if client.budget is not None else None
    rng = random.Random(seed)
    latencies = np.zeros(len(arrivals))
    succeeded = np.zeros(len(arrivals), dtype=bool)
    events = [(t, i, _ATTEMPT, i, 1, True) for i, t in enumerate(arrivals.tolist())]
    heapq.heapify(events)
    seq = len(events)
    while events:
        t, _, kind, request, attempt, ok = heapq.heappop(events)
        clock.set(t)
        if kind == _ATTEMPT:
            if attempt == 1 and budget:
                budget.deposit()
            if breaker and not breaker.allow():
                latencies[request] = t - arrivals[request]  # turned away at once: a fast failure
                continue
            answer_at, ok = dependency.call(t)
            if client.timeout is not None and answer_at - t > client.timeout:
                answer_at, ok = t + client.timeout, False
            heapq.heappush(events, (answer_at, seq, _ANSWER, request, attempt, ok))
        else:
            if breaker:
                breaker.record(ok)
            retry = not ok and attempt <= client.retries and (budget is None or budget.try_retry())
            if retry:
                wait = client.backoff.delay(attempt, rng) if client.backoff else 0.0
                heapq.heappush(events, (t + wait, seq, _ATTEMPT, request, attempt + 1, True))
            else:
                latencies[request], succeeded[request] = t - arrivals[request], ok
        seq += 1
    return Outcome(
        latencies,
        succeeded,
        np.asarray(dependency.call_times),
        duration,
        rejected=breaker.rejected if breaker else 0,
        breaker=breaker,
    )


def outcome_table(rows: dict[tuple[str, str], Outcome]) -> pd.DataFrame:
    """A table with one row per ``(pattern, variant)`` and the columns of :meth:`Outcome.summary`."""
    frame = pd.DataFrame([{"pattern": p, "variant": v, **o.summary()} for (p, v), o in rows.items()])
    return frame.set_index(["pattern", "variant"])
