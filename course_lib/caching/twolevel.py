"""A two-level cache: a small in-process L1 in front of a shared L2 (Redis) in front of the database.

An L1 hit costs a dict lookup; an L2 hit costs a round trip to Redis and a parse; a miss
costs a database query. Each application process has its own L1, so after a write the
other processes' L1 copies stay stale until their short L1 TTL runs out: the L1 TTL is
the bound on that staleness.

>>> from course_lib.caching.clock import FakeClock
>>> from course_lib.caching.stores import MemoryStore
>>> clock, shared = FakeClock(), MemoryStore()
>>> cache = TwoLevelCache(lambda book_id: {"id": book_id}, shared, namespace="book",
...                       l1_capacity=100, l1_ttl=5, l2_ttl=300, clock=clock)
>>> cache.get(1), cache.get(1)
({'id': 1}, {'id': 1})
>>> cache.counts()
{'l1_hits': 1, 'l2_hits': 0, 'loads': 1}
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from course_lib.caching.aside import CacheAside
from course_lib.caching.clock import Clock
from course_lib.caching.policies import MISSING, TTLCache
from course_lib.caching.serialization import ORJSON, Codec
from course_lib.caching.stores import Store

__all__ = ["TwoLevelCache"]

V = TypeVar("V")


class TwoLevelCache(Generic[V]):
    """L1: a :class:`~course_lib.caching.policies.TTLCache` in this process; L2: cache-aside on ``store``."""

    def __init__(
        self,
        loader: Callable[..., V],
        store: Store,
        *,
        namespace: str,
        l1_capacity: int,
        l1_ttl: float,
        l2_ttl: float,
        clock: Clock,
        codec: Codec = ORJSON,
        **l2_options: Any,
    ) -> None:
        self.l1: TTLCache[tuple, V] = TTLCache(l1_capacity, l1_ttl, clock)
        self.l2: CacheAside[V] = CacheAside(
            loader, store, ttl=l2_ttl, namespace=namespace, clock=clock, codec=codec, **l2_options
        )

    def get(self, *args: Hashable) -> V:
        value = self.l1.get(args, MISSING)
        if value is MISSING:
            value = self.l2.get(*args)
            self.l1.put(args, value)
        return value

    __call__ = get

    def invalidate(self, *args: Hashable) -> None:
        """Delete the entry from this process's L1 and from the shared L2 (other L1s keep theirs)."""
        self.l1.delete(args)
        self.l2.invalidate(*args)

    def counts(self) -> dict[str, int]:
        """Hits in L1, hits in L2 (L1 misses that Redis answered), and loads from the database."""
        return {"l1_hits": self.l1.stats.hits, "l2_hits": self.l2.stats.hits, "loads": self.l2.stats.loads}
