"""Cache-aside (lazy loading) with a TTL and explicit invalidation, and write-behind.

Cache-aside is the pattern most applications use: look in the cache; on a miss, load
from the database and store the result for next time. Writers update the database and
then *invalidate* (delete) the cached entry, so the next read loads the new value.

>>> from course_lib.caching.clock import FakeClock
>>> from course_lib.caching.stores import MemoryStore
>>> clock, store, queries = FakeClock(), MemoryStore(), []
>>> @cache_aside(store, ttl=60, clock=clock)
... def price(book_id):
...     queries.append(book_id)           # stands in for a SQL query
...     return {"id": book_id, "price": 10}
>>> price(1), price(1), len(queries)      # the second call is a hit
({'id': 1, 'price': 10}, {'id': 1, 'price': 10}, 1)
>>> price.invalidate(1)                   # after a write to book 1
True
>>> _ = price(1); len(queries)
2
>>> _ = clock.advance(60); _ = price(1); len(queries)   # expired after 60 s
3

Freshness is decided by ``clock`` (pass a FakeClock for counts that never depend on the
machine): each entry carries its own expiry time and how long it took to compute, which
probabilistic early expiry needs. The store's own expiry (``store_ttl``) is only a safety
net that frees memory; in production, with the real clock, set it close to ``ttl``.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from course_lib.caching.clock import Clock
from course_lib.caching.policies import MISSING
from course_lib.caching.serialization import ORJSON, Codec
from course_lib.caching.stampede import Guard, xfetch_should_refresh
from course_lib.caching.stores import Store

__all__ = ["AsideStats", "CacheAside", "cache_aside", "WriteBehind"]

V = TypeVar("V")


@dataclass
class AsideStats:
    """Counts of one cache-aside function."""

    hits: int = 0
    misses: int = 0
    loads: int = 0  #: calls of the loader (database queries)
    early_refreshes: int = 0  #: hits recomputed early by probabilistic early expiry
    invalidations: int = 0
    writes: int = 0  #: values stored by put() (write-through / write-behind)

    @property
    def hit_ratio(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


class CacheAside(Generic[V]):
    """A loader function with a cache in front of it; call it like the function.

    ``loader(*args)`` returns a value the ``codec`` can serialise. The cache key is
    ``namespace`` and the arguments joined by ``:`` (``"book:42"``). Options:

    - ``ttl``: seconds an entry is served after it was stored (by ``clock``);
    - ``guard``: a stampede guard (:class:`~course_lib.caching.stampede.SingleFlight`,
      :class:`~course_lib.caching.stampede.RedisLockGuard`) used on a miss;
    - ``early_expiry``: XFetch's ``beta`` (0 turns it off; 1 is the usual choice), with
      ``seed`` for its random numbers.
    """

    def __init__(
        self,
        loader: Callable[..., V],
        store: Store,
        *,
        ttl: float,
        namespace: str | None = None,
        clock: Clock = time.time,
        codec: Codec = ORJSON,
        guard: Guard | None = None,
        early_expiry: float = 0.0,
        seed: int = 0,
        store_ttl: float | None = 3600.0,
    ) -> None:
        if not ttl > 0:
            raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
        self.loader, self.store, self.ttl = loader, store, float(ttl)
        self.namespace = namespace or getattr(loader, "__name__", "cached")
        self.clock, self.codec, self.guard = clock, codec, guard
        self.early_expiry, self.store_ttl = early_expiry, store_ttl
        self.stats = AsideStats()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        functools.update_wrapper(self, loader)  # type: ignore[arg-type]

    def key(self, *args: Hashable) -> str:
        """The store key for these arguments."""
        return ":".join([self.namespace, *map(str, args)])

    def __call__(self, *args: Hashable) -> V:
        return self.get(*args)

    def get(self, *args: Hashable) -> V:
        """The cached value if fresh, else the loader's (stored for next time)."""
        key = self.key(*args)
        entry = self._read(key)
        now = self.clock()
        if entry is not None and now < entry[1]:
            value, expires, delta = entry
            if self.early_expiry and xfetch_should_refresh(now, expires, delta, self.early_expiry, self._rng):
                self._count("early_refreshes")
                return self._compute(key, args)
            self._count("hits")
            return value
        self._count("misses")
        if self.guard is None:
            return self._compute(key, args)
        return self.guard.fill(key, lambda: self._fresh(key), lambda: self._compute(key, args))

    def put(self, value: V, *args: Hashable) -> None:
        """Store ``value`` for these arguments now (write-through: after the database write)."""
        self._write(self.key(*args), value, 0.0)
        self._count("writes")

    def invalidate(self, *args: Hashable) -> bool:
        """Delete the entry (after the database changed); True if there was one."""
        self._count("invalidations")
        return self.store.delete(self.key(*args)) > 0

    def is_cached(self, *args: Hashable) -> bool:
        """True if a fresh entry is stored (not counted as a hit or a miss)."""
        return self._fresh(self.key(*args)) is not MISSING

    # -- internals -----------------------------------------------------------------------
    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)

    def _read(self, key: str) -> tuple[Any, float, float] | None:
        raw = self.store.get(key)
        if raw is None:
            return None
        value, expires, delta = self.codec.loads(raw)
        return value, expires, delta

    def _fresh(self, key: str) -> Any:
        entry = self._read(key)
        return entry[0] if entry is not None and self.clock() < entry[1] else MISSING

    def _write(self, key: str, value: Any, delta: float) -> None:
        self.store.set(key, self.codec.dumps([value, self.clock() + self.ttl, delta]), self.store_ttl)

    def _compute(self, key: str, args: tuple[Hashable, ...]) -> V:
        started = self.clock()
        value = self.loader(*args)
        self._count("loads")
        self._write(key, value, self.clock() - started)
        return value

    def __repr__(self) -> str:
        return f"CacheAside({self.namespace!r}, ttl={self.ttl:g}, stats={self.stats})"


def cache_aside(store: Store, *, ttl: float, **options: Any) -> Callable[[Callable[..., V]], CacheAside[V]]:
    """Decorator form of :class:`CacheAside`: ``@cache_aside(store, ttl=60)``; options as there."""

    def decorate(loader: Callable[..., V]) -> CacheAside[V]:
        return CacheAside(loader, store, ttl=ttl, **options)

    return decorate


class WriteBehind(Generic[V]):
    """Write-behind (write-back): a write updates the cache now and the database later, in a batch.

    ``write`` stores the value in the cache and remembers it; ``flush`` hands all pending
    writes, one per key (later writes to a key replace earlier ones), to
    ``write_many(dict)`` in one call. Until then the database is behind the cache, and a
    crash loses what is pending: :meth:`drop_pending` stands in for that crash.
    """

    def __init__(self, cache: CacheAside[V], write_many: Callable[[dict[tuple, V]], None]) -> None:
        self.cache, self.write_many = cache, write_many
        self.pending: dict[tuple, V] = {}
        self.writes = 0
        self.flushed = 0
        self._lock = threading.Lock()

    def write(self, value: V, *args: Hashable) -> None:
        self.cache.put(value, *args)
        with self._lock:
            self.pending[args] = value
            self.writes += 1

    def flush(self) -> int:
        """Send the pending writes to the database; returns how many rows were written."""
        with self._lock:
            batch, self.pending = self.pending, {}
        if batch:
            self.write_many(batch)
        self.flushed += len(batch)
        return len(batch)

    def drop_pending(self) -> int:
        """Forget the pending writes, as a crash would; returns how many were lost."""
        with self._lock:
            lost = len(self.pending)
            self.pending = {}
        return lost
