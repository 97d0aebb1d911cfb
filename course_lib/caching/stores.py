"""Where cached bytes live: a dict in this process, or Redis. Both count their calls.

The cache patterns of this package (cache-aside, two-level, stampede guards) talk to a
:class:`Store`: three methods, bytes in and out. :class:`MemoryStore` keeps them in a
dict; :class:`RedisStore` keeps them in Redis under a key prefix of its own, so that
notebooks and tests running side by side on one server never see each other's keys.
Each store counts its operations in ``calls`` (one Redis command is one round trip):

>>> store = MemoryStore()
>>> store.set("k", b"v"); store.get("k"), store.get("other")
(b'v', None)
>>> dict(store.calls)
{'set': 1, 'get': 2}

Use :func:`redis_store` for a Redis store that deletes its keys when you are done:

>>> from course_lib.backends import redis_client
>>> with redis_client() as client, redis_store(client, "doc") as store:
...     store.set("k", b"v")
...     store.get("k")
b'v'
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from course_lib.caching.clock import Clock

if TYPE_CHECKING:
    import redis

__all__ = ["Store", "MemoryStore", "RedisStore", "redis_store"]


@runtime_checkable
class Store(Protocol):
    """Bytes by string key, with an optional time-to-live in seconds."""

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None: ...

    def delete(self, *keys: str) -> int: ...


class _Counted:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    def _count(self, operation: str, n: int = 1) -> None:
        with self._count_lock:
            self.calls[operation] += n

    @property
    def round_trips(self) -> int:
        """All operations so far (for Redis: commands sent, one round trip each)."""
        return sum(self.calls.values())


class MemoryStore(_Counted):
    """A dict with expiry times (read from ``clock``, default ``time.monotonic``); thread-safe."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        super().__init__()
        self.clock = clock
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        self._count("get")
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            value, expires = item
            if expires is not None and self.clock() >= expires:
                del self._data[key]
                return None
            return value

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._count("set")
        with self._lock:
            self._data[key] = (bytes(value), None if ttl is None else self.clock() + ttl)

    def delete(self, *keys: str) -> int:
        self._count("delete")
        with self._lock:
            return sum(self._data.pop(key, None) is not None for key in keys)

    def set_many(self, items: Iterable[tuple[str, bytes]], ttl: float | None = None) -> None:
        """Store several values in one call."""
        self._count("set_many")
        with self._lock:
            for key, value in items:
                self._data[key] = (bytes(value), None if ttl is None else self.clock() + ttl)

    def __len__(self) -> int:
        return len(self._data)


class RedisStore(_Counted):
    """Keys in Redis under ``prefix``; ``ttl`` becomes Redis's own expiry (``SET ... PX``).

    The client comes from outside (``course_lib.backends.redis_client()``): this class
    never decides which server to use. ``client`` may be shared by threads.
    """

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        super().__init__()
        if not prefix:
            raise ValueError("give a prefix (e.g. 'course:04:books:'): keys without one could clash on a shared server")
        self.client = client
        self.prefix = prefix

    def key(self, key: str) -> str:
        """The full Redis key of ``key``."""
        return self.prefix + key

    def get(self, key: str) -> bytes | None:
        self._count("get")
        return self.client.get(self.prefix + key)

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._count("set")
        px = None if ttl is None else max(1, round(ttl * 1000))
        self.client.set(self.prefix + key, value, px=px)

    def set_many(self, items: Iterable[tuple[str, bytes]], ttl: float | None = None) -> None:
        """Store several values with one pipeline: one round trip, counted as ``set_many``."""
        px = None if ttl is None else max(1, round(ttl * 1000))
        pipe = self.client.pipeline(transaction=False)
        for key, value in items:
            pipe.set(self.prefix + key, value, px=px)
        self._count("set_many")
        pipe.execute()

    def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        self._count("delete")
        return int(self.client.delete(*(self.prefix + key for key in keys)))

    def keys(self) -> list[str]:
        """The keys stored under this prefix, without it, sorted (uses SCAN, never KEYS)."""
        return sorted(key[len(self.prefix) :] for key in self._raw_keys())

    def clear(self) -> int:
        """Delete every key under the prefix; returns how many there were."""
        raw = self._raw_keys()
        for start in range(0, len(raw), 1000):
            self.client.delete(*raw[start : start + 1000])
        return len(raw)

    def _raw_keys(self) -> list[str]:
        return [
            k.decode() if isinstance(k, bytes) else k
            for k in self.client.scan_iter(match=self.prefix + "*", count=1000)
        ]


@contextmanager
def redis_store(client: redis.Redis, name: str) -> Iterator[RedisStore]:
    """A :class:`RedisStore` under a fresh prefix ``course:<name>:<random>:``, emptied on exit.

    The random part keeps concurrent runs (two notebooks, a test and a notebook) apart on
    a shared server; the clean-up runs also when the body raises.
    """
    store = RedisStore(client, f"course:{name}:{uuid.uuid4().hex[:10]}:")
    try:
        yield store
    finally:
        store.clear()
