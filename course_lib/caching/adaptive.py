"""A TTL that adapts to how often a key is read, and a simulation to judge it.

One TTL for every key is a compromise: long enough for popular keys to be served from the
cache most of the time, short enough that rarely read keys do not sit in memory (and go
stale) for nothing. :class:`AdaptiveTTL` gives each key a TTL between ``min_ttl`` and
``max_ttl`` in proportion to its recent popularity: a count of its reads that halves
every ``half_life`` seconds.

>>> from course_lib.caching.clock import FakeClock
>>> clock = FakeClock()
>>> ttl = AdaptiveTTL(min_ttl=5, max_ttl=60, half_life=60, clock=clock)
>>> ttl.record("rare"); ttl("rare")
5.0
>>> for _ in range(20):
...     ttl.record("hot")
>>> ttl("hot")
60.0

:func:`simulate_ttl` replays a trace on a fake clock and reports the two sides of the
compromise: database loads and the average number of keys held.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

from course_lib.caching.clock import Clock, FakeClock
from course_lib.caching.workloads import Trace

__all__ = ["AdaptiveTTL", "TTLRun", "simulate_ttl"]


class AdaptiveTTL:
    """``ttl(key) = clamp(min_ttl * score(key), min_ttl, max_ttl)``; ``score`` is a decayed read count.

    Call :meth:`record` on every read of a key and :meth:`__call__` when storing it.
    Memory: one float pair per key ever seen (a real system would keep this in the cache
    entry itself, or forget keys whose score has decayed).
    """

    def __init__(self, min_ttl: float, max_ttl: float, half_life: float, clock: Clock) -> None:
        if not 0 < min_ttl <= max_ttl:
            raise ValueError(f"need 0 < min_ttl <= max_ttl, got {min_ttl!r} and {max_ttl!r}")
        if not half_life > 0:
            raise ValueError(f"half_life must be a positive number of seconds, got {half_life!r}")
        self.min_ttl, self.max_ttl, self.half_life, self.clock = float(min_ttl), float(max_ttl), half_life, clock
        self._scores: dict[Hashable, tuple[float, float]] = {}  # key -> (score, when)

    def score(self, key: Hashable) -> float:
        """The key's read count, each read weighted by 0.5 ** (its age / half_life)."""
        score, when = self._scores.get(key, (0.0, self.clock()))
        return score * 0.5 ** ((self.clock() - when) / self.half_life)

    def record(self, key: Hashable) -> None:
        """Count one read of ``key`` now."""
        self._scores[key] = (self.score(key) + 1.0, self.clock())

    def __call__(self, key: Hashable) -> float:
        return min(self.max_ttl, max(self.min_ttl, self.min_ttl * self.score(key)))


@dataclass(frozen=True)
class TTLRun:
    """One replay of :func:`simulate_ttl`."""

    label: str
    requests: int
    loads: int  #: misses: database queries
    mean_resident: float  #: average number of keys held in the cache over the run

    @property
    def hit_ratio(self) -> float:
        return 1 - self.loads / self.requests


def simulate_ttl(
    trace: Trace,
    ttl: float | Callable[[Hashable], float],
    *,
    label: str = "",
    recorder: Callable[[Hashable], None] | None = None,
    clock: FakeClock | None = None,
) -> TTLRun:
    """Replay ``trace`` on a fake clock through a cache without a size limit and with a TTL.

    ``ttl`` is a number of seconds or a function of the key (e.g. an :class:`AdaptiveTTL`,
    whose ``record`` you pass as ``recorder`` and whose clock as ``clock``). An entry
    occupies memory from when it is stored until it expires or the trace ends.
    """
    clock = clock or FakeClock()
    ttl_of = ttl if callable(ttl) else (lambda key: float(ttl))
    expires: dict[Hashable, float] = {}
    loads, held = 0, 0.0
    end = len(trace) / trace.rate
    for key, now in zip(trace.keys.tolist(), trace.times.tolist(), strict=True):
        clock.set(max(now, clock.now))
        if recorder is not None:
            recorder(key)
        if now >= expires.get(key, -1.0):
            loads += 1
            lifetime = ttl_of(key)
            expires[key] = now + lifetime
            held += min(lifetime, end - now)
    return TTLRun(
        label or (f"fixed TTL {ttl:g} s" if not callable(ttl) else "adaptive TTL"), len(trace), loads, held / end
    )
