"""Caching, from eviction policies to Redis: the library behind lesson 04.

One small module per idea; import from the module, or the common names from here:

=====================  ===============================================================
``clock``              ``FakeClock``: time that moves only when you say so
``policies``           ``LRUCache``, ``LFUCache``, ``FIFOCache``, ``TTLCache``, ``CacheStats``
``workloads``          ``zipf_trace``, ``scan_trace``, ``shifting_trace`` (seeded ``Trace``)
``simulate``           ``replay`` a trace, ``reference_stats`` from cachetools, tables
``serialization``      ``JSON``, ``ORJSON``, ``PICKLE`` codecs, ``compress_above``
``stores``             ``MemoryStore``, ``RedisStore``, ``redis_store`` (counted calls)
``aside``              ``CacheAside`` / ``cache_aside``: TTL, invalidation; ``WriteBehind``
``stampede``           ``SingleFlight``, ``RedisLockGuard``, XFetch, ``StampedeScenario``
``twolevel``           ``TwoLevelCache``: in-process L1, Redis L2
``adaptive``           ``AdaptiveTTL`` and ``simulate_ttl``
``pipelining``         ``time_batch_sizes``: the same writes at several batch sizes, interleaved
``aimd``               ``AIMDController`` and ``run_batches``: an adaptive batch size
``bookstore``          ``load_book``, ``set_price``: module 03's bookstore, one book at a time
``http``               ``create_cached_app``: ETag, ``Cache-Control`` and 304 in FastAPI
=====================  ===============================================================

Nothing here picks a Redis server: pass a client from ``course_lib.backends.redis_client()``.
"""

from course_lib.caching.aside import CacheAside, WriteBehind, cache_aside
from course_lib.caching.clock import FakeClock
from course_lib.caching.policies import MISSING, CacheStats, FIFOCache, LFUCache, LRUCache, TTLCache
from course_lib.caching.simulate import hit_ratio_table, reference_stats, replay
from course_lib.caching.stampede import RedisLockGuard, SingleFlight, StampedeScenario, simulate_expiry
from course_lib.caching.stores import MemoryStore, RedisStore, redis_store
from course_lib.caching.workloads import Trace, scan_trace, shifting_trace, zipf_trace

__all__ = [
    "CacheAside",
    "CacheStats",
    "FIFOCache",
    "FakeClock",
    "LFUCache",
    "LRUCache",
    "MISSING",
    "MemoryStore",
    "RedisLockGuard",
    "RedisStore",
    "SingleFlight",
    "StampedeScenario",
    "TTLCache",
    "Trace",
    "WriteBehind",
    "cache_aside",
    "hit_ratio_table",
    "redis_store",
    "reference_stats",
    "replay",
    "scan_trace",
    "shifting_trace",
    "simulate_expiry",
    "zipf_trace",
]
