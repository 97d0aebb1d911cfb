"""Seeded request traces: which key each request asks for, and when.

A cache's hit ratio is a property of the cache *and* of the traffic. These generators
make three kinds of traffic, each a :class:`Trace` (a numpy array of integer keys, with
arrival times at a fixed rate), the same for the same arguments on every machine:

- :func:`zipf_trace`: a few keys are very popular, most are rarely asked for. The
  probability of the key of popularity rank ``r`` is proportional to ``1 / r ** skew``.
- :func:`scan_trace`: Zipf traffic interrupted by scans, each reading a long run of cold
  keys once (a report, a backup, a crawler).
- :func:`shifting_trace`: Zipf traffic whose popular keys change from phase to phase (news,
  a sale, the start of a school term).

>>> trace = zipf_trace(n_keys=100, n_requests=5, skew=1.0, seed=1)
>>> trace.keys.tolist() == zipf_trace(n_keys=100, n_requests=5, skew=1.0, seed=1).keys.tolist()
True
>>> len(trace), trace.times[:2].tolist()
(5, [0.0, 0.001])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Trace", "zipf_probabilities", "zipf_trace", "scan_trace", "shifting_trace"]


@dataclass(frozen=True)
class Trace:
    """A sequence of requests: ``keys[i]`` is requested at ``times[i]`` seconds."""

    name: str
    keys: np.ndarray
    rate: float = 1000.0  #: requests per second; request i arrives at i / rate
    params: dict = field(default_factory=dict)

    @property
    def times(self) -> np.ndarray:
        return np.arange(len(self.keys)) / self.rate

    def __len__(self) -> int:
        return int(self.keys.size)

    @property
    def distinct(self) -> int:
        """How many different keys the trace asks for."""
        return int(np.unique(self.keys).size)

    def __repr__(self) -> str:
        return f"Trace({self.name!r}, {len(self)} requests, {self.distinct} distinct keys)"


def _check(name: str, value: int, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
        raise ValueError(f"{name} must be a whole number >= {least}, got {value!r}")
    return int(value)


def zipf_probabilities(n_keys: int, skew: float) -> np.ndarray:
    """P(rank r) proportional to 1 / r ** skew for r = 1..n_keys (skew 0 is uniform)."""
    n_keys = _check("n_keys", n_keys, 1)
    if skew < 0:
        raise ValueError(f"skew must be >= 0 (0 is uniform, about 1 is typical of web traffic), got {skew!r}")
    weights = 1.0 / np.arange(1, n_keys + 1) ** skew
    return weights / weights.sum()


def _zipf_keys(rng: np.random.Generator, n_keys: int, n: int, skew: float) -> np.ndarray:
    return rng.choice(n_keys, size=n, p=zipf_probabilities(n_keys, skew))


def zipf_trace(
    n_keys: int = 10_000, n_requests: int = 20_000, skew: float = 1.0, *, seed: int = 0, rate: float = 1000.0
) -> Trace:
    """``n_requests`` requests for keys ``0 .. n_keys - 1``; key ``r`` has popularity rank ``r + 1``."""
    n_requests = _check("n_requests", n_requests, 1)
    keys = _zipf_keys(np.random.default_rng(seed), n_keys, n_requests, skew)
    return Trace(f"Zipf (skew {skew:g})", keys, rate, {"n_keys": n_keys, "skew": skew, "seed": seed})


def scan_trace(
    n_keys: int = 10_000,
    n_requests: int = 20_000,
    skew: float = 1.0,
    *,
    scan_length: int = 2_000,
    scan_every: int = 3_000,
    seed: int = 0,
    rate: float = 1000.0,
) -> Trace:
    """Zipf requests; after every ``scan_every`` of them, one scan of ``scan_length`` cold keys.

    A scan reads keys ``n_keys, n_keys + 1, ...`` in order (the same range each time, like a
    nightly report over a table no one else reads). Scans count towards ``n_requests``.
    """
    n_requests = _check("n_requests", n_requests, 1)
    scan_length = _check("scan_length", scan_length, 1)
    scan_every = _check("scan_every", scan_every, 1)
    rng = np.random.default_rng(seed)
    background = _zipf_keys(rng, n_keys, n_requests, skew)
    scan = np.arange(n_keys, n_keys + scan_length)
    parts, used = [], 0
    while sum(len(p) for p in parts) < n_requests:
        parts += [background[used : used + scan_every], scan]
        used += scan_every
    keys = np.concatenate(parts)[:n_requests]
    return Trace(
        f"Zipf + scans of {scan_length}",
        keys,
        rate,
        {"n_keys": n_keys, "skew": skew, "scan_length": scan_length, "scan_every": scan_every, "seed": seed},
    )


def shifting_trace(
    n_keys: int = 10_000,
    n_requests: int = 20_000,
    skew: float = 1.0,
    *,
    phases: int = 4,
    seed: int = 0,
    rate: float = 1000.0,
) -> Trace:
    """Zipf requests whose popularity ranking is reshuffled at the start of each of ``phases`` phases.

    Within a phase the traffic is an ordinary Zipf trace; at a phase change yesterday's
    popular keys become ordinary and other keys become popular.
    """
    n_requests = _check("n_requests", n_requests, 1)
    phases = _check("phases", phases, 1)
    rng = np.random.default_rng(seed)
    ranks = _zipf_keys(rng, n_keys, n_requests, skew)
    phase_of = np.arange(n_requests) * phases // n_requests
    rankings = np.stack([rng.permutation(n_keys) for _ in range(phases)])  # rank -> key, per phase
    keys = rankings[phase_of, ranks]
    return Trace(
        f"Zipf, new popular keys in each of {phases} phases",
        keys,
        rate,
        {"n_keys": n_keys, "skew": skew, "phases": phases, "seed": seed},
    )
