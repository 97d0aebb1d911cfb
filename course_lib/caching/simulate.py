"""Replay a trace through a cache, and check the result against ``cachetools``.

Replaying means: for each request, look the key up; on a miss, load it and store it.
That is what an application with a cache in front of a database does, with the database
taken out, so the hit ratio is the only thing measured and every count is exact.

>>> from course_lib.caching.policies import LRUCache
>>> from course_lib.caching.workloads import zipf_trace
>>> trace = zipf_trace(n_keys=1000, n_requests=2000, seed=3)
>>> ours = replay(LRUCache(100), trace)
>>> ours.hits == reference_stats("LRU", 100, trace).hits
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from course_lib.caching.clock import FakeClock
from course_lib.caching.policies import MISSING, Cache, CacheStats, FIFOCache, LFUCache, LRUCache, TTLCache
from course_lib.caching.workloads import Trace

__all__ = ["POLICIES", "make_cache", "replay", "replay_hits", "reference_stats", "hit_ratio_table"]

#: The course's policies by name; TTL caches also need ``ttl`` (seconds) and a clock.
POLICIES: dict[str, type[Cache]] = {"LRU": LRUCache, "LFU": LFUCache, "FIFO": FIFOCache, "TTL": TTLCache}


def make_cache(policy: str, capacity: int, *, ttl: float | None = None, clock: FakeClock | None = None) -> Cache:
    """A course cache by policy name ("LRU", "LFU", "FIFO" or "TTL")."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
    if policy == "TTL":
        if ttl is None or clock is None:
            raise ValueError("a TTL cache needs ttl= (seconds) and clock= (e.g. a FakeClock)")
        return TTLCache(capacity, ttl, clock)
    return POLICIES[policy](capacity)


def replay(cache: Cache, trace: Trace, clock: FakeClock | None = None) -> CacheStats:
    """Send every request of ``trace`` to ``cache`` (get; put on a miss); return its statistics.

    With a ``clock`` (the one the cache reads, for TTL caches), the clock is set to each
    request's arrival time first. The cache's statistics accumulate over calls; the
    returned object is a copy.
    """
    get, put = cache.get, cache.put
    if clock is None:
        for key in trace.keys.tolist():
            if get(key, MISSING) is MISSING:
                put(key, True)
    else:
        for key, when in zip(trace.keys.tolist(), trace.times.tolist(), strict=True):
            clock.set(max(when, clock.now))
            if get(key, MISSING) is MISSING:
                put(key, True)
    return cache.stats.copy()


def replay_hits(cache: Cache, trace: Trace, clock: FakeClock | None = None) -> np.ndarray:
    """Like :func:`replay`, but return one boolean per request: True where it was a hit."""
    hit = np.zeros(len(trace), dtype=bool)
    times = trace.times.tolist()
    for i, key in enumerate(trace.keys.tolist()):
        if clock is not None:
            clock.set(max(times[i], clock.now))
        if cache.get(key, MISSING) is MISSING:
            cache.put(key, True)
        else:
            hit[i] = True
    return hit


def reference_stats(policy: str, capacity: int, trace: Trace, *, ttl: float | None = None) -> CacheStats:
    """The same replay with ``cachetools``' cache of that policy: hits, misses and evictions.

    Evictions are counted by wrapping ``popitem`` (cachetools calls it only to make room),
    expirations by wrapping ``expire`` (TTL only).
    """
    import cachetools

    stats = CacheStats()
    base = {
        "LRU": cachetools.LRUCache,
        "LFU": cachetools.LFUCache,
        "FIFO": cachetools.FIFOCache,
        "TTL": cachetools.TTLCache,
    }[policy]

    class Counting(base):  # type: ignore[misc, valid-type]
        def popitem(self):  # noqa: ANN202 - cachetools' signature
            stats.evictions += 1
            return super().popitem()

        def expire(self, time=None):  # noqa: ANN001, ANN202
            expired = super().expire(time)
            stats.expirations += len(expired)
            return expired

    clock = FakeClock()
    timed = policy == "TTL"
    cache = Counting(capacity, ttl, timer=clock) if timed else Counting(capacity)
    for key, when in zip(trace.keys.tolist(), trace.times.tolist(), strict=True):
        if timed:
            clock.set(max(when, clock.now))
        if key in cache:
            cache[key]
            stats.hits += 1
        else:
            stats.misses += 1
            cache[key] = True
    return stats


def hit_ratio_table(
    traces: Iterable[Trace],
    capacities: Iterable[int],
    policies: Mapping[str, Callable[[int, FakeClock], Cache]],
) -> pd.DataFrame:
    """Hit ratio of every policy at every capacity on every trace, one row per combination.

    ``policies`` maps a label to ``factory(capacity, clock) -> cache`` (the clock is a fresh
    FakeClock, moved through the trace's arrival times). Columns: workload, policy,
    capacity, hits, misses, evictions, expirations, hit_ratio.
    """
    rows = []
    capacities = list(capacities)
    for trace in traces:
        for label, factory in policies.items():
            for capacity in capacities:
                clock = FakeClock()
                cache = factory(capacity, clock)
                stats = replay(cache, trace, clock if isinstance(cache, TTLCache) else None)
                rows.append(
                    {
                        "workload": trace.name,
                        "policy": label,
                        "capacity": capacity,
                        "hits": stats.hits,
                        "misses": stats.misses,
                        "evictions": stats.evictions,
                        "expirations": stats.expirations,
                        "hit_ratio": stats.hit_ratio,
                    }
                )
    return pd.DataFrame(rows)
