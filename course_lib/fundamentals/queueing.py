"""Queueing and scalability models, closed forms and simulations (module 01, reused in 06).

Rates are "per unit of time" and times are "in that unit": pick seconds (or milliseconds)
and stay with it. Every simulation takes a ``seed`` so that a run can be repeated exactly.

>>> mm1_mean_sojourn(arrival_rate=80.0, service_rate=100.0)   # seconds, if rates are per second
0.05
>>> round(fanout_slow_probability(0.01, 100), 3)
0.634
>>> littles_law(arrival_rate=200.0, time_in_system=0.05)
10.0
>>> amdahl_speedup(0.05, 1_000_000) < 20
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

#: ``sampler(rng, size) -> array of latencies``, used by :func:`simulate_fanout`.
Sampler = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]


# --------------------------------------------------------------------------- validation
def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive, finite number, got {value!r}")
    return value


def _stable_rates(arrival_rate: float, service_rate: float) -> tuple[float, float]:
    lam, mu = _positive("arrival_rate", arrival_rate), _positive("service_rate", service_rate)
    if lam >= mu:
        raise ValueError(
            f"utilisation arrival_rate/service_rate = {lam / mu:.3g} >= 1: the queue grows without "
            "bound and has no steady state; lower the arrival rate or raise the service rate"
        )
    return lam, mu


def _count(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- M/M/1 closed forms
def utilisation(arrival_rate: float, service_rate: float) -> float:
    """Fraction of time one server is busy: ``rho = arrival_rate / service_rate``.

    >>> utilisation(80, 100)
    0.8
    """
    return _positive("arrival_rate", arrival_rate) / _positive("service_rate", service_rate)


def mm1_mean_sojourn(arrival_rate: float, service_rate: float) -> float:
    """Mean time in an M/M/1 system (waiting plus service): ``W = 1 / (mu - lambda)``.

    Raises ``ValueError`` when the utilisation is 1 or more (no steady state).

    >>> mm1_mean_sojourn(0.5, 1.0)
    2.0
    """
    lam, mu = _stable_rates(arrival_rate, service_rate)
    return 1.0 / (mu - lam)


def mm1_mean_number(arrival_rate: float, service_rate: float) -> float:
    """Mean number of customers in an M/M/1 system: ``L = rho / (1 - rho)``.

    >>> mm1_mean_number(0.5, 1.0)
    1.0
    """
    lam, mu = _stable_rates(arrival_rate, service_rate)
    rho = lam / mu
    return rho / (1.0 - rho)


def mm1_sojourn_percentile(arrival_rate: float, service_rate: float, q: float) -> float:
    """The q-th percentile (0 <= q < 100) of the M/M/1 time in system.

    In a FIFO M/M/1 queue the time in system is exponentially distributed with rate
    ``mu - lambda``, so its q-th percentile is ``-ln(1 - q/100) / (mu - lambda)``.

    >>> round(mm1_sojourn_percentile(0.5, 1.0, 50), 4)   # median = ln 2 / 0.5
    1.3863
    """
    if not 0 <= q < 100:
        raise ValueError(f"q must be in [0, 100) (the 100th percentile is infinite), got {q!r}")
    lam, mu = _stable_rates(arrival_rate, service_rate)
    return -math.log1p(-q / 100.0) / (mu - lam)


# --------------------------------------------------------------------------- simulation
@dataclass(frozen=True)
class QueueRun:
    """Arrival and departure times of every customer of one simulated FIFO queue."""

    arrivals: np.ndarray
    departures: np.ndarray

    @property
    def sojourn(self) -> np.ndarray:
        """Time each customer spent in the system (waiting plus service)."""
        return self.departures - self.arrivals

    @property
    def duration(self) -> float:
        """Time from 0 to the last departure."""
        return float(self.departures.max())


def fifo_departures(arrivals: ArrayLike, service_times: ArrayLike) -> np.ndarray:
    """Departure times of a single FIFO server, given sorted arrival times and service times.

    The recursion (Lindley's, written for departures) is
    ``D[i] = max(A[i], D[i-1]) + S[i]``: a customer starts when it has arrived *and* the
    previous one has left. Unrolled, ``D[i] = C[i] + max_{j<=i}(A[j] - C[j-1])`` with
    ``C`` the running sum of service times, which numpy computes without a Python loop.

    >>> fifo_departures([0.0, 1.0, 1.5], [2.0, 1.0, 1.0]).tolist()
    [2.0, 3.0, 4.0]
    """
    a = np.asarray(arrivals, dtype=float)
    s = np.asarray(service_times, dtype=float)
    if a.ndim != 1 or a.shape != s.shape:
        raise ValueError(f"arrivals and service_times must be 1-D and equally long, got {a.shape} and {s.shape}")
    if a.size and (np.any(np.diff(a) < 0) or np.any(s < 0)):
        raise ValueError("arrivals must be sorted and service_times non-negative")
    done_work = np.cumsum(s)
    return done_work + np.maximum.accumulate(a - (done_work - s))


def simulate_mm1_run(arrival_rate: float, service_rate: float, n_customers: int, seed: int) -> QueueRun:
    """Simulate ``n_customers`` of an M/M/1 queue (Poisson arrivals, exponential service).

    The queue starts empty at time 0. Same arguments, same result.
    """
    lam, mu = _stable_rates(arrival_rate, service_rate)
    n = _count("n_customers", n_customers)
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / lam, size=n))
    services = rng.exponential(1.0 / mu, size=n)
    return QueueRun(arrivals, fifo_departures(arrivals, services))


def simulate_mm1(arrival_rate: float, service_rate: float, n_customers: int, seed: int) -> np.ndarray:
    """Time in system of each of ``n_customers`` of a simulated M/M/1 queue.

    >>> w = simulate_mm1(80.0, 100.0, 200_000, seed=1)
    >>> bool(abs(w.mean() / mm1_mean_sojourn(80.0, 100.0) - 1) < 0.05)
    True
    """
    return simulate_mm1_run(arrival_rate, service_rate, n_customers, seed).sojourn


def count_in_system(arrivals: ArrayLike, departures: ArrayLike, at: ArrayLike) -> np.ndarray:
    """How many customers are in the system at each instant of ``at``.

    A customer is counted from its arrival (inclusive) to its departure (exclusive): what a
    gauge such as "requests in flight" shows when a monitoring system samples it.

    >>> count_in_system([0, 1, 2], [3, 4, 5], [0.5, 2.5, 3.5, 9]).tolist()
    [1, 3, 2, 0]
    """
    arrived = np.searchsorted(np.sort(np.asarray(arrivals, dtype=float)), at, side="right")
    left = np.searchsorted(np.sort(np.asarray(departures, dtype=float)), at, side="right")
    return arrived - left


def littles_law(
    *,
    arrival_rate: float | None = None,
    time_in_system: float | None = None,
    number_in_system: float | None = None,
) -> float:
    """Solve ``L = lambda * W`` for the one quantity you leave out (give exactly two).

    >>> littles_law(arrival_rate=200, time_in_system=0.05)    # L: requests in flight
    10.0
    >>> littles_law(number_in_system=10, time_in_system=0.05)  # lambda: requests per second
    200.0
    """
    given = {"arrival_rate": arrival_rate, "time_in_system": time_in_system, "number_in_system": number_in_system}
    missing = [name for name, value in given.items() if value is None]
    if len(missing) != 1:
        raise ValueError(f"give exactly two of {list(given)} and leave one out; missing: {missing}")
    values = {name: _positive(name, value) for name, value in given.items() if value is not None}
    if missing == ["number_in_system"]:
        return values["arrival_rate"] * values["time_in_system"]
    if missing == ["arrival_rate"]:
        return values["number_in_system"] / values["time_in_system"]
    return values["number_in_system"] / values["arrival_rate"]


# --------------------------------------------------------------------------- fan-out
def fanout_slow_probability(p: ArrayLike, n: ArrayLike) -> float | np.ndarray:
    """Probability that a request calling ``n`` back ends in parallel sees at least one slow one.

    Each back end is slow with probability ``p``, independently: ``1 - (1 - p) ** n``.
    Works element-wise on arrays.

    >>> fanout_slow_probability(0.01, 1)
    0.01
    """
    p_arr, n_arr = np.asarray(p, dtype=float), np.asarray(n, dtype=float)
    if np.any((p_arr < 0) | (p_arr > 1)) or not np.all(np.isfinite(p_arr)):
        raise ValueError(f"p is a probability and must be in [0, 1], got {p!r}")
    if np.any(n_arr < 1) or np.any(n_arr != np.round(n_arr)):
        raise ValueError(f"n counts back ends and must be a whole number >= 1, got {n!r}")
    result = -np.expm1(n_arr * np.log1p(-p_arr)) if np.all(p_arr < 1) else 1.0 - (1.0 - p_arr) ** n_arr
    return float(result) if np.ndim(result) == 0 else result


def lognormal_sampler(median: float = 1.0, sigma: float = 1.0) -> Sampler:
    """A sampler of lognormal latencies with the given median and shape ``sigma``."""
    mu = math.log(_positive("median", median))
    sigma = _positive("sigma", sigma)
    return lambda rng, size: rng.lognormal(mu, sigma, size=size)


def simulate_fanout(n_backends: int, n_requests: int, seed: int, sampler: Sampler | None = None) -> np.ndarray:
    """Latency of ``n_requests`` requests that each wait for ``n_backends`` parallel calls.

    A request finishes when its slowest back end answers, so its latency is the maximum of
    ``n_backends`` independent draws from ``sampler`` (default: lognormal, median 1, sigma 1).

    >>> lat = simulate_fanout(n_backends=10, n_requests=1000, seed=0)
    >>> lat.shape
    (1000,)
    """
    n = _count("n_backends", n_backends)
    m = _count("n_requests", n_requests)
    draw = sampler if sampler is not None else lognormal_sampler()
    rng = np.random.default_rng(seed)
    out = np.empty(m)
    chunk = max(1, 1_000_000 // n)  # bound memory to about 8 MB per block of draws
    for start in range(0, m, chunk):
        stop = min(m, start + chunk)
        out[start:stop] = np.asarray(draw(rng, (stop - start, n)), dtype=float).max(axis=1)
    return out


# --------------------------------------------------------------------------- scalability
def amdahl_speedup(serial_fraction: ArrayLike, n: ArrayLike) -> float | np.ndarray:
    """Amdahl's law: speed-up on ``n`` processors when ``serial_fraction`` of the work is serial.

    ``S(n) = 1 / (s + (1 - s) / n)``, bounded above by ``1 / s``.

    >>> amdahl_speedup(0.5, 2)
    1.3333333333333333
    """
    s, n_arr = np.asarray(serial_fraction, dtype=float), np.asarray(n, dtype=float)
    if np.any((s < 0) | (s > 1)):
        raise ValueError(f"serial_fraction must be in [0, 1], got {serial_fraction!r}")
    if np.any(n_arr < 1):
        raise ValueError(f"n (processors) must be >= 1, got {n!r}")
    result = 1.0 / (s + (1.0 - s) / n_arr)
    return float(result) if np.ndim(result) == 0 else result


def usl_speedup(n: ArrayLike, alpha: float, beta: float) -> float | np.ndarray:
    """Gunther's Universal Scalability Law: relative capacity on ``n`` processors or nodes.

    ``C(n) = n / (1 + alpha * (n - 1) + beta * n * (n - 1))``; ``alpha`` is contention
    (queueing for a shared resource), ``beta`` coherency (pairwise coordination).
    With ``beta = 0`` it is Amdahl's law with ``alpha`` as the serial fraction.

    >>> usl_speedup(4, alpha=0.0, beta=0.0)
    4.0
    """
    n_arr = np.asarray(n, dtype=float)
    if np.any(n_arr < 1):
        raise ValueError(f"n must be >= 1, got {n!r}")
    if not (0 <= alpha <= 1 and beta >= 0):
        raise ValueError(f"need 0 <= alpha <= 1 and beta >= 0, got alpha={alpha!r}, beta={beta!r}")
    result = n_arr / (1.0 + alpha * (n_arr - 1.0) + beta * n_arr * (n_arr - 1.0))
    return float(result) if np.ndim(result) == 0 else result


def usl_peak(alpha: float, beta: float) -> float:
    """The ``n`` at which :func:`usl_speedup` peaks: ``sqrt((1 - alpha) / beta)`` (needs beta > 0).

    >>> usl_peak(0.0, 0.01)
    10.0
    """
    if not (0 <= alpha <= 1):
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    return math.sqrt((1.0 - alpha) / _positive("beta", beta))
