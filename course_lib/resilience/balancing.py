"""Load balancing across servers of unequal speed, in simulated time.

Each server is one worker with a FIFO queue; its speed is requests per second. Every request
has a size (exponential, mean 1) drawn once, so all policies see the same work: on a server
of speed ``s`` it takes ``size / s`` seconds. A *policy* picks a server for each request from
what a real balancer could know: the server list, its own counters, the number of requests it
has in flight on each server, and (for hashing) the request's key.

>>> servers = [Server("a", 100), Server("b", 100), Server("c", 25)]
>>> runs = {p.name: balance(servers, p, rate=150, duration=20, seed=1) for p in (RoundRobin(), LeastConnections())}
>>> runs["least connections"].p99 < runs["round robin"].p99
True

Consistent hashing (Karger et al., STOC 1997) keeps most keys in place when a server leaves;
``hash(key) % N`` moves most of them:

>>> keys = [f"user-{i}" for i in range(2000)]
>>> ring, smaller = HashRing(["a", "b", "c", "d"]), HashRing(["a", "b", "c"])
>>> round(moved_share(keys, ring.node_for, smaller.node_for), 2) < 0.3
True
>>> moved_share(keys, mod_n(["a", "b", "c", "d"]), mod_n(["a", "b", "c"])) > 0.6
True
"""

from __future__ import annotations

import bisect
import collections
import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from course_lib.resilience.simulate import poisson_arrivals

__all__ = [
    "Balanced",
    "HashRing",
    "HealthChecker",
    "LeastConnections",
    "Policy",
    "PowerOfTwo",
    "RandomChoice",
    "RoundRobin",
    "Server",
    "StickyHash",
    "WeightedRoundRobin",
    "balance",
    "mod_n",
    "moved_share",
    "stable_hash",
]


def stable_hash(text: str) -> int:
    """A hash of ``text`` that is the same in every process (Python's ``hash`` of a str is not)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True)
class Server:
    """A server: a name, its speed (requests of mean size per second), and when it fails, if ever.

    From ``fails_at`` on it answers every request at once with an error (a fast failure).
    """

    name: str
    speed: float
    fails_at: float | None = None


class Policy:
    """Picks a server index for each request. Subclasses implement :meth:`pick`."""

    name = "policy"

    def reset(self, servers: Sequence[Server], seed: int) -> None:
        """Called once before a run."""
        self.servers = servers
        self.rng = random.Random(seed)

    def pick(self, candidates: list[int], in_flight: list[int], key: str) -> int:
        """The index of the server (one of ``candidates``, the servers believed healthy)."""
        raise NotImplementedError


class RandomChoice(Policy):
    """Any healthy server, uniformly at random."""

    name = "random"

    def pick(self, candidates: list[int], in_flight: list[int], key: str) -> int:
        return self.rng.choice(candidates)


class RoundRobin(Policy):
    """The healthy servers in turn."""

    name = "round robin"

    def reset(self, servers: Sequence[Server], seed: int) -> None:
        super().reset(servers, seed)
        self.turn = 0

    def pick(self, candidates: list[int], in_flight: list[int], key: str) -> int:
        self.turn += 1
        return candidates[self.turn % len(candidates)]


class WeightedRoundRobin(Policy):
    """Smooth weighted round robin (as in nginx): each server's share is its weight's share.

    ``weights`` default to the servers' speeds: the operator tells the balancer how big each is.
    """

    name = "weighted round robin"

    def __init__(self, weights: Sequence[float] | None = None) -> None:
        self.weights = weights

    def reset(self, servers: Sequence[Server], seed: int) -> None:
        super().reset(servers, seed)
        self.weight = list(self.weights or [s.speed for s in servers])
        self.current = [0.0] * len(servers)

    def pick(self, candidates: list[int], in_flight: list[int], key: str) -> int:
        total = sum(self.weight[i] for i in candidates)
        for i in candidates:
            self.current[i] += self.weight[i]
        best = max(candidates, key=lambda i: self.current[i])
        self.current[best] -= total
        return best


class LeastConnections(Policy):
    """The healthy server with the fewest requests in flight (ties: the first)."""

    name = "least connections"

    def pick(self, candidates: list[int], in_flight: list[int], key: str) -> int:
        return min(candidates, key=in_flight.__getitem__)


class PowerOfTwo(Policy):
    """Two healthy servers at random, then the one with fewer in flight (Mitzenmacher, 2001)."""

    name = "power of two choices"

    def pick(self, candidates: list[int], in_flight: list[int], key: str) -> int:
        if len(candidates) == 1:
            return candidates[0]
        a, b = self.rng.sample(candidates, 2)
        return a if in_flight[a] <= in_flight[b] else b


class HashRing:
    """A consistent-hash ring: each node at ``vnodes`` points; a key goes to the next point clockwise."""

    def __init__(self, nodes: Sequence[str], vnodes: int = 100) -> None:
        if not nodes:
            raise ValueError("a ring needs at least one node")
        points = sorted((stable_hash(f"{node}#{v}"), node) for node in nodes for v in range(vnodes))
        self._hashes = [h for h, _ in points]
        self._nodes = [n for _, n in points]

    def node_for(self, key: str) -> str:
        """The node that owns ``key``."""
        i = bisect.bisect(self._hashes, stable_hash(key)) % len(self._hashes)
        return self._nodes[i]


def mod_n(nodes: Sequence[str]) -> Callable[[str], str]:
    """The naive alternative to a ring: ``nodes[hash(key) % len(nodes)]``."""
    nodes = list(nodes)
    return lambda key: nodes[stable_hash(key) % len(nodes)]


def moved_share(keys: Sequence[str], before: Callable[[str], str], after: Callable[[str], str]) -> float:
    """The share of ``keys`` whose node changes from ``before`` to ``after``."""
    return sum(before(k) != after(k) for k in keys) / len(keys)


class StickyHash(Policy):
    """Consistent hashing on the request's key (a user or session id): the same key, the same server,
    as long as that server is in the ring. The ring is rebuilt from the healthy servers."""

    name = "consistent hashing"

    def __init__(self, vnodes: int = 100) -> None:
        self.vnodes = vnodes

    def reset(self, servers: Sequence[Server], seed: int) -> None:
        super().reset(servers, seed)
        self._rings: dict[tuple[int, ...], HashRing] = {}
        self._index = {s.name: i for i, s in enumerate(servers)}

    def pick(self, candidates: list[int], in_flight: list[int], key: str) -> int:
        ring = self._rings.get(tuple(candidates))
        if ring is None:
            ring = self._rings[tuple(candidates)] = HashRing([self.servers[i].name for i in candidates], self.vnodes)
        return self._index[ring.node_for(key)]


class HealthChecker:
    """Probes every server each ``interval`` seconds; ``threshold`` failed probes in a row mark it down,
    one good probe marks it up again. The balancer sends only to servers marked up."""

    def __init__(self, interval: float = 1.0, threshold: int = 2) -> None:
        self.interval, self.threshold = interval, threshold

    def healthy(self, servers: Sequence[Server], until: float) -> Callable[[float], list[int]]:
        """A function ``t -> indices marked up at t``, from probes at 0, interval, 2*interval, ..."""
        probe_times = np.arange(0, until + self.interval, self.interval)
        down_since = []
        for server in servers:
            if server.fails_at is None:
                down_since.append(np.inf)
                continue
            failed = probe_times[probe_times >= server.fails_at]
            down_since.append(failed[self.threshold - 1] if len(failed) >= self.threshold else np.inf)
        everyone = list(range(len(servers)))
        return lambda t: [i for i in everyone if t < down_since[i]] or everyone


@dataclass
class Balanced:
    """One run: per request, its server, latency (s) and success."""

    policy: str
    servers: list[str]
    chosen: np.ndarray
    latencies: np.ndarray
    succeeded: np.ndarray

    @property
    def p99(self) -> float:
        """99th percentile of latency (seconds), failed requests included."""
        return float(np.percentile(self.latencies, 99))

    @property
    def p50(self) -> float:
        """Median latency (seconds)."""
        return float(np.percentile(self.latencies, 50))

    @property
    def error_rate(self) -> float:
        """Share of requests answered with an error."""
        return float(1 - self.succeeded.mean())

    def shares(self) -> dict[str, float]:
        """Share of requests each server received."""
        counts = np.bincount(self.chosen, minlength=len(self.servers))
        return {name: round(float(c) / len(self.chosen), 3) for name, c in zip(self.servers, counts)}


def balance(
    servers: Sequence[Server],
    policy: Policy,
    *,
    rate: float,
    duration: float = 60.0,
    users: int = 1000,
    health: HealthChecker | None = None,
    seed: int = 1,
) -> Balanced:
    """Send a Poisson stream of ``rate`` requests per second for ``duration`` s through ``policy``.

    Each request belongs to one of ``users`` users (its key, for hashing), uniformly. Without a
    ``health`` checker the balancer believes every server is up.
    """
    rng = np.random.default_rng(seed)
    arrivals = poisson_arrivals(rate, duration, seed)
    sizes = rng.exponential(1.0, size=len(arrivals)).tolist()
    keys = [f"user-{u}" for u in rng.integers(0, users, size=len(arrivals)).tolist()]
    policy.reset(servers, seed)
    everyone = list(range(len(servers)))
    marked_up = health.healthy(servers, duration) if health else (lambda t: everyone)
    queues = [collections.deque() for _ in servers]  # finish times of requests in flight, per server
    free = [0.0] * len(servers)
    chosen = np.zeros(len(arrivals), dtype=int)
    latencies = np.zeros(len(arrivals))
    ok = np.ones(len(arrivals), dtype=bool)
    for i, t in enumerate(arrivals.tolist()):
        for queue in queues:
            while queue and queue[0] <= t:
                queue.popleft()
        s = policy.pick(marked_up(t), [len(q) for q in queues], keys[i])
        chosen[i] = s
        if servers[s].fails_at is not None and t >= servers[s].fails_at:
            ok[i] = False  # a failed server answers at once, with an error
            continue
        free[s] = max(t, free[s]) + sizes[i] / servers[s].speed
        queues[s].append(free[s])
        latencies[i] = free[s] - t
    return Balanced(policy.name, [s.name for s in servers], chosen, latencies, ok)
