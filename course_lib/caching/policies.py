"""Eviction policies as small classes you can read in one sitting: LRU, LFU, FIFO and TTL.

Each cache holds at most ``capacity`` entries and counts what happens to it in
:attr:`Cache.stats`: hits, misses, evictions (an entry pushed out to make room) and
expirations (an entry dropped because its time-to-live ran out). Only :meth:`Cache.get`
counts hits and misses; ``key in cache`` just looks.

>>> cache = LRUCache(2)
>>> cache.put("a", 1); cache.put("b", 2)
>>> cache.get("a")                  # a is now the most recently used
1
>>> cache.put("c", 3)               # full: evicts b, the least recently used
>>> sorted(cache.keys()), cache.get("b")
(['a', 'c'], None)
>>> cache.stats
CacheStats(hits=1, misses=1, evictions=1, expirations=0)

The victims are chosen exactly as ``cachetools`` (version 8) chooses them, so replaying a
trace (``get``, and ``put`` after a miss) gives the same hit counts with either library;
:func:`course_lib.caching.simulate.reference_stats` checks that. One difference is on
purpose: :meth:`Cache.put` of a key that is already cached replaces the value and, in
:class:`FIFOCache`, keeps its place in the queue (``cachetools.FIFOCache`` moves it to the
back).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from course_lib.caching.clock import Clock

__all__ = ["CacheStats", "Cache", "LRUCache", "LFUCache", "FIFOCache", "TTLCache", "MISSING"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: Returned by ``get(key, MISSING)`` for a miss when ``None`` may be a cached value.
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()


@dataclass
class CacheStats:
    """What happened to a cache: hits and misses of :meth:`Cache.get`, entries evicted or expired."""

    hits: int = 0
    misses: int = 0
    evictions: int = 0
    expirations: int = 0

    @property
    def requests(self) -> int:
        """Hits plus misses: how many lookups were made."""
        return self.hits + self.misses

    @property
    def hit_ratio(self) -> float:
        """Hits divided by lookups (0.0 before any lookup)."""
        return self.hits / self.requests if self.requests else 0.0

    def copy(self) -> CacheStats:
        return CacheStats(self.hits, self.misses, self.evictions, self.expirations)


class Cache(Generic[K, V]):
    """Base class: a bounded mapping with statistics. Subclasses decide which entry to evict.

    A subclass keeps its own bookkeeping in four hooks: :meth:`_on_insert` (a new key),
    :meth:`_on_access` (a hit), :meth:`_on_remove` (a key leaves) and :meth:`_victim`
    (which key to evict when full).
    """

    policy = "base"

    def __init__(self, capacity: int) -> None:
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ValueError(f"capacity must be a whole number of entries >= 1, got {capacity!r}")
        self.capacity = capacity
        self.stats = CacheStats()
        self._data: dict[K, V] = {}

    # -- the public interface ------------------------------------------------------------
    def get(self, key: K, default: Any = None) -> V | Any:
        """The cached value (a hit), or ``default`` (a miss). Counts either."""
        if key in self._data and self._alive(key):
            self.stats.hits += 1
            self._on_access(key)
            return self._data[key]
        self.stats.misses += 1
        return default

    def put(self, key: K, value: V) -> None:
        """Store ``value``; when the cache is full, evict entries (counted) to make room."""
        self._before_put()
        if key in self._data:
            self._data[key] = value
            self._on_update(key)
            return
        while len(self._data) >= self.capacity:
            victim = self._victim()
            self._remove(victim)
            self.stats.evictions += 1
        self._data[key] = value
        self._on_insert(key)

    def delete(self, key: K) -> bool:
        """Remove ``key`` (explicit invalidation); True if it was cached. Not counted as an eviction."""
        if key not in self._data:
            return False
        self._remove(key)
        return True

    def clear(self) -> None:
        """Remove every entry (statistics are kept)."""
        for key in list(self._data):
            self._remove(key)

    def __contains__(self, key: object) -> bool:
        return key in self._data and self._alive(key)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self._data)

    def keys(self) -> Iterator[K]:
        """The cached keys (in no promised order)."""
        return iter(list(self._data))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(capacity={self.capacity}, size={len(self)}, stats={self.stats})"

    # -- hooks for subclasses -----------------------------------------------------------
    def _remove(self, key: K) -> None:
        del self._data[key]
        self._on_remove(key)

    def _alive(self, key: K) -> bool:
        return True

    def _before_put(self) -> None:
        pass

    def _on_insert(self, key: K) -> None:
        raise NotImplementedError

    def _on_access(self, key: K) -> None:
        raise NotImplementedError

    def _on_update(self, key: K) -> None:
        self._on_access(key)

    def _on_remove(self, key: K) -> None:
        raise NotImplementedError

    def _victim(self) -> K:
        raise NotImplementedError


class LRUCache(Cache[K, V]):
    """Least recently used: evict the entry whose last use is oldest.

    An ordered dict keeps the keys from least to most recently used; a hit moves its key
    to the end, the victim is the first key. Both steps are O(1).
    """

    policy = "LRU"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._order: OrderedDict[K, None] = OrderedDict()

    def _on_insert(self, key: K) -> None:
        self._order[key] = None

    def _on_access(self, key: K) -> None:
        self._order.move_to_end(key)

    def _on_remove(self, key: K) -> None:
        del self._order[key]

    def _victim(self) -> K:
        return next(iter(self._order))


class FIFOCache(Cache[K, V]):
    """First in, first out: evict the entry that was inserted first; hits change nothing."""

    policy = "FIFO"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._queue: OrderedDict[K, None] = OrderedDict()

    def _on_insert(self, key: K) -> None:
        self._queue[key] = None

    def _on_access(self, key: K) -> None:
        pass  # FIFO ignores use: that is what makes it cheap, and what it loses

    def _on_remove(self, key: K) -> None:
        del self._queue[key]

    def _victim(self) -> K:
        return next(iter(self._queue))


class LFUCache(Cache[K, V]):
    """Least frequently used: evict the entry with the fewest uses since it was inserted.

    Keys sit in buckets by use count; within a bucket they are in the order they reached
    that count, so ties go to the one that has waited longest (as in ``cachetools``).
    A new key starts at count 1, so a burst of one-off keys (a scan) evicts only keys
    that were used once, never the popular ones.
    """

    policy = "LFU"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._count: dict[K, int] = {}
        self._buckets: dict[int, OrderedDict[K, None]] = {}
        self._min = 0

    def _on_insert(self, key: K) -> None:
        self._count[key] = 1
        self._buckets.setdefault(1, OrderedDict())[key] = None
        self._min = 1

    def _on_access(self, key: K) -> None:
        count = self._count[key]
        self._unbucket(key, count)
        self._count[key] = count + 1
        self._buckets.setdefault(count + 1, OrderedDict())[key] = None
        if self._min == count and count not in self._buckets:
            self._min = count + 1

    def _on_remove(self, key: K) -> None:
        count = self._count.pop(key)
        self._unbucket(key, count)
        if count == self._min and count not in self._buckets:
            self._min = min(self._buckets, default=0)

    def _unbucket(self, key: K, count: int) -> None:
        bucket = self._buckets[count]
        del bucket[key]
        if not bucket:
            del self._buckets[count]

    def _victim(self) -> K:
        return next(iter(self._buckets[self._min]))

    def count(self, key: K) -> int:
        """How often ``key`` was used since it was inserted (0 if it is not cached)."""
        return self._count.get(key, 0)


class TTLCache(LRUCache[K, V]):
    """LRU with a time-to-live: an entry is served until ``ttl`` seconds after it was stored.

    ``clock`` is any function returning seconds (pass a
    :class:`~course_lib.caching.clock.FakeClock` for counts that do not depend on the
    machine). An expired entry is a miss; it is dropped when looked up, and every expired
    entry is dropped before a ``put`` (both counted as expirations, not evictions). When the
    cache is full of live entries, the least recently used one is evicted, as in
    ``cachetools.TTLCache``.

    >>> from course_lib.caching.clock import FakeClock
    >>> clock = FakeClock()
    >>> cache = TTLCache(10, ttl=5, clock=clock)
    >>> cache.put("k", "v")
    >>> _ = clock.advance(4.9); cache.get("k")
    'v'
    >>> _ = clock.advance(0.1); cache.get("k"), cache.stats.expirations
    (None, 1)
    """

    policy = "TTL"

    def __init__(self, capacity: int, ttl: float, clock: Clock) -> None:
        super().__init__(capacity)
        if not ttl > 0:
            raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
        self.ttl = float(ttl)
        self.clock = clock
        self._expires: OrderedDict[K, float] = OrderedDict()  # in expiry order (one ttl for all)

    def get(self, key: K, default: Any = None) -> V | Any:
        if key in self._data and not self._alive(key):
            self._remove(key)
            self.stats.expirations += 1
        return super().get(key, default)

    def _alive(self, key: K) -> bool:
        return self.clock() < self._expires[key]

    def _before_put(self) -> None:
        now = self.clock()
        while self._expires:
            key, expires = next(iter(self._expires.items()))
            if now < expires:
                break
            self._remove(key)
            self.stats.expirations += 1

    def _on_insert(self, key: K) -> None:
        super()._on_insert(key)
        self._expires[key] = self.clock() + self.ttl

    def _on_update(self, key: K) -> None:
        super()._on_update(key)
        self._expires[key] = self.clock() + self.ttl
        self._expires.move_to_end(key)

    def _on_remove(self, key: K) -> None:
        super()._on_remove(key)
        del self._expires[key]

    def expires_at(self, key: K) -> float | None:
        """When ``key`` expires (clock seconds), or None if it is not stored."""
        return self._expires.get(key)
