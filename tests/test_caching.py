"""course_lib.caching: policies against cachetools, workloads, cache-aside, stampedes, Redis pieces.

Tests that need Redis use ``redis_client()``, so they run on fakeredis locally and on the real
server when COURSE_REDIS_URL is set (as in CI). The tests marked ``services`` insist on a real
server: skipped with a reason when the URL is unset, failed when CI=true and it is unset.
"""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from needs import required_url

from course_lib.backends import REDIS_ENV, redis_client
from course_lib.caching import (
    MISSING,
    CacheAside,
    FakeClock,
    FIFOCache,
    LFUCache,
    LRUCache,
    MemoryStore,
    RedisLockGuard,
    SingleFlight,
    StampedeScenario,
    TTLCache,
    WriteBehind,
    cache_aside,
    hit_ratio_table,
    redis_store,
    reference_stats,
    replay,
    scan_trace,
    shifting_trace,
    zipf_trace,
)
from course_lib.caching.adaptive import AdaptiveTTL, simulate_ttl
from course_lib.caching.aimd import AIMDController, run_batches
from course_lib.caching.pipelining import time_batch_sizes
from course_lib.caching.serialization import CODECS, ORJSON, compress_above
from course_lib.caching.simulate import make_cache, replay_hits
from course_lib.caching.stampede import STRATEGIES, RedisLock, simulate_expiry, xfetch_should_refresh
from course_lib.caching.twolevel import TwoLevelCache
from course_lib.caching.workloads import Trace, zipf_probabilities
from course_lib.checks import CheckFailed


@pytest.fixture
def client():
    """Whatever redis_client() gives: fakeredis, or the real server named by COURSE_REDIS_URL."""
    with redis_client() as redis:
        yield redis


# --------------------------------------------------------------------------- policies vs cachetools

TRACES = [
    zipf_trace(n_keys=2000, n_requests=5000, skew=1.0, seed=1),
    zipf_trace(n_keys=300, n_requests=4000, skew=0.6, seed=2),
    scan_trace(n_keys=1000, n_requests=5000, skew=1.0, scan_length=400, scan_every=800, seed=3),
    shifting_trace(n_keys=1000, n_requests=5000, skew=1.1, phases=5, seed=4),
    Trace("cyclic", np.tile(np.arange(17), 60)),
    Trace("random small", np.random.default_rng(5).integers(0, 12, 3000)),
]


@pytest.mark.parametrize("policy", ["LRU", "LFU", "FIFO", "TTL"])
@pytest.mark.parametrize("trace", TRACES, ids=lambda t: t.name)
@pytest.mark.parametrize("capacity", [1, 7, 100, 1000])
def test_policies_count_exactly_what_cachetools_counts(policy, trace, capacity):
    clock = FakeClock()
    cache = make_cache(policy, capacity, ttl=0.5, clock=clock)
    ours = replay(cache, trace, clock if policy == "TTL" else None)
    theirs = reference_stats(policy, capacity, trace, ttl=0.5)
    assert ours == theirs
    assert ours.requests == len(trace) and len(cache) <= capacity


def test_hit_ratio_table_matches_cachetools_row_by_row():
    traces = [zipf_trace(n_keys=10_000, n_requests=20_000, seed=2)]
    policies = {"LRU": lambda c, clock: LRUCache(c), "TTL 2 s": lambda c, clock: TTLCache(c, 2.0, clock)}
    table = hit_ratio_table(traces, [30, 3000], policies)
    for row in table.itertuples():
        reference = reference_stats(row.policy.split()[0], row.capacity, traces[0], ttl=2.0)
        assert (row.hits, row.misses, row.evictions, row.expirations) == (
            reference.hits,
            reference.misses,
            reference.evictions,
            reference.expirations,
        )
    assert list(table.columns) == [
        "workload",
        "policy",
        "capacity",
        "hits",
        "misses",
        "evictions",
        "expirations",
        "hit_ratio",
    ]


@settings(max_examples=150, deadline=None)
@given(
    ops=st.lists(st.tuples(st.sampled_from(["get", "put"]), st.integers(0, 8)), max_size=200),
    capacity=st.integers(1, 6),
    policy=st.sampled_from(["LRU", "LFU", "FIFO"]),
)
def test_any_sequence_of_gets_and_puts_of_new_keys_behaves_like_cachetools(ops, capacity, policy):
    import cachetools

    ours = make_cache(policy, capacity)
    theirs = {"LRU": cachetools.LRUCache, "LFU": cachetools.LFUCache, "FIFO": cachetools.FIFOCache}[policy](capacity)
    for op, key in ops:
        if op == "get":
            assert ours.get(key, MISSING) == theirs.get(key, MISSING)
        elif key not in theirs:  # FIFO deliberately differs on re-putting a cached key (see policies)
            ours.put(key, key)
            theirs[key] = key
        assert sorted(ours.keys()) == sorted(theirs.keys())


def test_lru_evicts_the_least_recently_used():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert sorted(cache.keys()) == ["a", "c"]
    assert (cache.stats.hits, cache.stats.misses, cache.stats.evictions) == (1, 0, 1)


def test_lfu_evicts_the_lowest_count_and_breaks_ties_by_recency():
    cache = LFUCache(3)
    for key in "abc":
        cache.put(key, key)
    cache.get("a"), cache.get("b"), cache.get("c"), cache.get("a")  # counts a 3, b 2, c 2; c used after b
    cache.put("d", "d")  # evicts b: lowest count, and of b and c the one used less recently
    assert sorted(cache.keys()) == ["a", "c", "d"]
    assert (cache.count("a"), cache.count("c"), cache.count("d"), cache.count("b")) == (3, 2, 1, 0)
    cache.put("e", "e")  # d has the lowest count
    assert sorted(cache.keys()) == ["a", "c", "e"]


def test_lfu_keeps_its_minimum_right_after_deletes():
    cache = LFUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.get("b")
    assert cache.delete("a") and not cache.delete("a")
    cache.put("c", 3)
    cache.put("d", 4)  # evicts c (count 1), not b (count 2)
    assert sorted(cache.keys()) == ["b", "d"]
    assert cache.stats.evictions == 1  # deletes are invalidations, not evictions


def test_fifo_ignores_hits_and_keeps_the_queue_position_on_update():
    cache = FIFOCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.get("a")
    cache.put("a", 10)  # an update: a stays first in the queue
    cache.put("c", 3)
    assert sorted(cache.keys()) == ["b", "c"]


def test_ttl_entries_live_until_exactly_ttl_seconds_and_count_expirations():
    clock = FakeClock()
    cache = TTLCache(10, ttl=5, clock=clock)
    cache.put("k", "v")
    clock.advance(4.999)
    assert cache.get("k") == "v" and "k" in cache
    clock.advance(0.001)
    assert "k" not in cache and cache.get("k") is None
    assert (cache.stats.hits, cache.stats.misses, cache.stats.expirations, cache.stats.evictions) == (1, 1, 1, 0)


def test_ttl_purges_expired_entries_before_evicting_live_ones():
    clock = FakeClock()
    cache = TTLCache(2, ttl=1, clock=clock)
    cache.put("old", 1)
    clock.advance(0.5)
    cache.put("young", 2)
    clock.advance(0.6)  # old expired, young alive
    cache.put("new", 3)
    assert sorted(cache.keys()) == ["new", "young"]
    assert (cache.stats.evictions, cache.stats.expirations) == (0, 1)
    assert cache.expires_at("young") == pytest.approx(1.5)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_capacity_must_be_a_positive_whole_number(bad):
    with pytest.raises(ValueError, match="capacity"):
        LRUCache(bad)


def test_make_cache_explains_bad_arguments():
    with pytest.raises(ValueError, match="unknown policy"):
        make_cache("MRU", 10)
    with pytest.raises(ValueError, match="ttl="):
        make_cache("TTL", 10)


def test_replay_hits_agrees_with_replay():
    trace = TRACES[2]
    hits = replay_hits(LFUCache(100), trace)
    assert hits.sum() == replay(LFUCache(100), trace).hits and hits.dtype == bool and len(hits) == len(trace)


# --------------------------------------------------------------------------- workloads


@pytest.mark.parametrize("make", [zipf_trace, scan_trace, shifting_trace])
def test_workloads_are_deterministic_for_a_seed_and_differ_between_seeds(make):
    first, again, other = make(n_requests=3000, seed=7), make(n_requests=3000, seed=7), make(n_requests=3000, seed=8)
    assert np.array_equal(first.keys, again.keys)
    assert not np.array_equal(first.keys, other.keys)
    assert len(first) == 3000 and first.times[1] == pytest.approx(1 / first.rate)


def test_zipf_probabilities_are_normalised_and_decreasing():
    p = zipf_probabilities(1000, 1.0)
    assert p.sum() == pytest.approx(1.0) and np.all(np.diff(p) < 0)
    assert np.allclose(zipf_probabilities(10, 0.0), 0.1)
    with pytest.raises(ValueError, match="skew"):
        zipf_probabilities(10, -1)


def test_higher_skew_concentrates_requests_on_fewer_keys():
    mild, steep = (
        zipf_trace(n_keys=5000, n_requests=20_000, skew=0.6, seed=1),
        zipf_trace(n_keys=5000, n_requests=20_000, skew=1.4, seed=1),
    )
    assert steep.distinct < mild.distinct
    assert np.mean(steep.keys == 0) > np.mean(mild.keys == 0)


def test_scan_trace_places_scans_of_cold_keys_at_regular_intervals():
    trace = scan_trace(n_keys=100, n_requests=1000, scan_length=50, scan_every=200, seed=0)
    scans = trace.keys >= 100
    assert np.array_equal(trace.keys[200:250], np.arange(100, 150))
    assert scans[:200].sum() == 0 and scans[250:450].sum() == 0 and scans[450:500].all()


def test_shifting_trace_changes_its_popular_keys_between_phases():
    trace = shifting_trace(n_keys=1000, n_requests=8000, phases=2, seed=3)
    first, second = trace.keys[:4000], trace.keys[4000:]
    top = lambda keys: set(np.bincount(keys, minlength=1000).argsort()[-10:])  # noqa: E731
    assert len(top(first) & top(second)) <= 2


@pytest.mark.parametrize("kwargs", [{"n_requests": 0}, {"n_keys": 0}, {"n_requests": 1.5}])
def test_workloads_reject_bad_sizes(kwargs):
    with pytest.raises(ValueError):
        zipf_trace(**kwargs)


# --------------------------------------------------------------------------- serialisation and stores


@pytest.mark.parametrize("codec", list(CODECS.values()), ids=lambda c: c.name)
def test_codecs_round_trip(codec):
    value = {"id": 7, "title": "Dune", "tags": ["sf", "classic"], "price": 9.99, "none": None}
    assert codec.loads(codec.dumps(value)) == value


@pytest.mark.parametrize("algorithm", ["lz4", "zlib"])
def test_compress_above_compresses_only_large_values(algorithm):
    codec = compress_above(ORJSON, threshold=100, algorithm=algorithm)
    small, large = {"a": 1}, {"text": "abc" * 400}
    assert codec.dumps(small)[:1] == b"\x00" and codec.loads(codec.dumps(small)) == small
    packed = codec.dumps(large)
    assert packed[:1] == b"\x01" and len(packed) < len(ORJSON.dumps(large)) / 5 and codec.loads(packed) == large
    with pytest.raises(ValueError, match="header"):
        codec.loads(b"\x07junk")
    with pytest.raises(ValueError, match="algorithm"):
        compress_above(ORJSON, algorithm="brotli")


def test_memory_store_expires_by_its_clock_and_counts_calls():
    clock = FakeClock()
    store = MemoryStore(clock)
    store.set("k", b"v", ttl=10)
    store.set_many([("a", b"1"), ("b", b"2")])
    assert store.get("k") == b"v"
    clock.advance(10)
    assert store.get("k") is None and store.get("a") == b"1"
    assert store.delete("a", "missing") == 1
    assert dict(store.calls) == {"set": 1, "set_many": 1, "get": 3, "delete": 1} and store.round_trips == 6


def test_redis_store_round_trip_pipeline_and_clean_up(client):
    with redis_store(client, "test-store") as store:
        store.set("a", b"1")
        store.set("b", b"2", ttl=60)
        store.set_many([(f"m{i}", b"x") for i in range(25)], ttl=60)
        assert store.get("a") == b"1" and store.get("nope") is None
        assert 0 < client.pttl(store.key("b")) <= 60_000 and client.pttl(store.key("a")) == -1
        assert store.delete("a", "nope") == 1
        assert store.keys() == sorted(["b", *(f"m{i}" for i in range(25))])
        assert store.calls["set_many"] == 1 and store.round_trips == 6
        prefix = store.prefix
    assert list(client.scan_iter(match=prefix + "*")) == []


def test_redis_store_is_emptied_when_the_body_raises(client):
    with pytest.raises(RuntimeError):
        with redis_store(client, "test-raise") as store:
            store.set("k", b"v")
            prefix = store.prefix
            raise RuntimeError("boom")
    assert list(client.scan_iter(match=prefix + "*")) == []


def test_redis_store_needs_a_prefix(client):
    from course_lib.caching.stores import RedisStore

    with pytest.raises(ValueError, match="prefix"):
        RedisStore(client, "")


# --------------------------------------------------------------------------- cache-aside


def test_cache_aside_counts_hits_misses_loads_and_honours_ttl_and_invalidation():
    clock, store, calls = FakeClock(), MemoryStore(), []

    @cache_aside(store, ttl=60, clock=clock)
    def price(book_id):
        calls.append(book_id)
        return {"id": book_id, "price": 10 * book_id}

    assert [price(1), price(1), price(2)] == [{"id": 1, "price": 10}] * 2 + [{"id": 2, "price": 20}]
    assert calls == [1, 2] and price.key(1) == "price:1" and price.__name__ == "price"
    clock.advance(59.9)
    price(1)
    clock.advance(0.1)
    price(1)
    assert calls == [1, 2, 1]
    assert price.invalidate(1) and not price.invalidate(99)
    price(1)
    assert calls == [1, 2, 1, 1]
    s = price.stats
    assert (s.hits, s.misses, s.loads, s.invalidations) == (2, 4, 4, 2) and s.hit_ratio == pytest.approx(2 / 6)


def test_cache_aside_put_is_write_through_and_is_cached_does_not_count():
    clock, store = FakeClock(), MemoryStore()
    cache = CacheAside(lambda k: f"loaded {k}", store, ttl=10, namespace="x", clock=clock)
    cache.put("written", "k")
    assert cache.is_cached("k") and not cache.is_cached("other")
    assert cache("k") == "written" and cache.stats.loads == 0 and cache.stats.writes == 1
    assert (cache.stats.hits, cache.stats.misses) == (1, 0)


def test_cache_aside_rejects_a_non_positive_ttl():
    with pytest.raises(ValueError, match="ttl"):
        CacheAside(lambda: 1, MemoryStore(), ttl=0)


def test_early_expiry_refreshes_only_near_expiry_and_is_reproducible():
    def run(seed):
        clock = FakeClock()

        def slow(key):
            clock.advance(1.0)  # each computation takes one second of fake time
            return key

        cache = CacheAside(slow, MemoryStore(clock), ttl=100, clock=clock, early_expiry=1.0, seed=seed, store_ttl=None)
        cache("k")  # stored at t=1, expires at t=101, delta 1 s
        early_far = cache.stats.early_refreshes
        for _ in range(2000):
            cache("k")  # far from expiry: XFetch almost never refreshes
        clock.set(100.9)
        for _ in range(50):
            cache("k")
        return early_far, cache.stats.early_refreshes, cache.stats.loads

    far, total, loads = run(seed=3)
    assert far == 0 and total >= 1 and loads == 1 + total
    assert run(seed=3) == (far, total, loads)


def test_xfetch_test_matches_the_formula():
    rng = random.Random(0)
    assert not xfetch_should_refresh(0.0, 100.0, 0.001, 1.0, rng)
    assert xfetch_should_refresh(100.0, 100.0, 1.0, 1.0, rng)  # at expiry: always
    later = sum(xfetch_should_refresh(99.0, 100.0, 1.0, 1.0, random.Random(i)) for i in range(2000))
    sooner = sum(xfetch_should_refresh(95.0, 100.0, 1.0, 1.0, random.Random(i)) for i in range(2000))
    assert later > sooner > 0  # P = exp(-(expiry - now) / (delta * beta)): e**-1 vs e**-5
    assert later / 2000 == pytest.approx(np.exp(-1), abs=0.03)


def test_write_behind_coalesces_and_loses_pending_writes_on_a_crash():
    written = []
    cache = CacheAside(lambda k: {"v": 0}, MemoryStore(), ttl=60, namespace="w", clock=FakeClock())
    behind = WriteBehind(cache, written.append)
    for i in range(30):
        behind.write({"v": i}, i % 3)
    assert cache(1) == {"v": 28} and cache.stats.loads == 0
    assert behind.flush() == 3 and written == [{(0,): {"v": 27}, (1,): {"v": 28}, (2,): {"v": 29}}]
    assert behind.flush() == 0 and len(written) == 1
    behind.write({"v": -1}, 5)
    assert behind.drop_pending() == 1 and behind.flush() == 0


# --------------------------------------------------------------------------- bookstore, invalidation


@pytest.fixture(scope="module")
def shop():
    from course_lib.bookstore import Scale, temporary_bookstore

    with temporary_bookstore(Scale.small(), seed=2) as bookstore:
        yield bookstore


def _aside_functions(shop, store, *, invalidate=True, cache=True):
    import orjson

    from course_lib.caching.bookstore import load_book, set_price

    def get_book(book_id):
        raw = store.get(f"b:{book_id}") if cache else None
        if raw is not None:
            return orjson.loads(raw)
        with shop.session() as session:
            book = load_book(session, book_id)
        store.set(f"b:{book_id}", orjson.dumps(book), ttl=300)
        return book

    def update_price(book_id, price):
        with shop.session() as session:
            set_price(session, book_id, price)
        if invalidate:
            store.delete(f"b:{book_id}")

    return get_book, update_price


SCRIPT = [
    ("read", 3),
    ("read", 3),
    ("write", 3, 1234),
    ("read", 3),
    ("read", 4),
    ("write", 4, 50),
    ("read", 4),
    ("read", 3),
]


def test_cache_aside_in_front_of_the_bookstore_never_reads_stale_data(shop, client):
    from course_lib.checks.caching import check_bookstore_cache

    with redis_store(client, "test-aside") as store:
        counts = check_bookstore_cache(*_aside_functions(shop, store), shop, SCRIPT, quiet=True)
    assert counts == {"reads": 6, "writes": 2, "read_statements": 4}


def test_the_bookstore_check_catches_a_stale_read_and_a_cache_that_never_hits(shop, client):
    from course_lib.checks.caching import check_bookstore_cache

    script = [("read", 5), ("write", 5, 4711), ("read", 5)]
    with redis_store(client, "test-stale") as store:
        with pytest.raises(CheckFailed, match="stale read"):
            check_bookstore_cache(*_aside_functions(shop, store, invalidate=False), shop, script, quiet=True)
    with redis_store(client, "test-nocache") as store:
        with pytest.raises(CheckFailed, match="should have come from the cache"):
            check_bookstore_cache(*_aside_functions(shop, store, cache=False), shop, SCRIPT, quiet=True)


def test_load_book_and_set_prices_issue_one_statement_each(shop):
    from course_lib.caching.bookstore import book_ids, load_book, set_prices
    from course_lib.database.querycount import count_queries

    with shop.session() as session:
        ids = book_ids(session)
        with count_queries(shop.engine) as log:
            book = load_book(session, ids[0])
            set_prices(session, {ids[0]: 777, ids[1]: 888})
        assert load_book(session, 10**9) is None
        assert load_book(session, ids[1])["price_cents"] == 888
    assert log.count == 2 and book["id"] == ids[0] and set(book) >= {"title", "author", "price_cents", "reviews"}


# --------------------------------------------------------------------------- stampedes


def _stampede(store, guard, threads=16):
    scenario = StampedeScenario(store, threads=threads, hold=3.0, value={"v": 1})
    cache = CacheAside(
        scenario.load, scenario.store, ttl=60, namespace=f"hot{random.random()}", clock=FakeClock(), guard=guard
    )
    report = scenario.run(lambda: cache.get("key"))
    assert not report.errors and not report.hung and report.results == [{"v": 1}] * threads
    return report.backend_calls


def test_without_a_guard_every_concurrent_miss_reaches_the_backend(client):
    with redis_store(client, "test-stampede") as store:
        assert _stampede(store, None) == 16


def test_single_flight_and_the_redis_lock_let_one_caller_load(client):
    with redis_store(client, "test-guards") as store:
        assert _stampede(store, SingleFlight()) == 1
        assert _stampede(store, RedisLockGuard(client, store.prefix), threads=12) == 1


def test_single_flight_shares_an_exception_with_every_waiter():
    flight, started, release = SingleFlight(), threading.Event(), threading.Event()
    errors = []

    def failing():
        started.set()
        release.wait(5)
        raise KeyError("db down")

    def call():
        try:
            flight.run("k", failing)
        except KeyError as error:
            errors.append(error)

    leader = threading.Thread(target=call)
    leader.start()
    started.wait(5)
    followers = [threading.Thread(target=call) for _ in range(3)]
    for thread in followers:
        thread.start()
    while flight.shared < 3:
        threading.Event().wait(0.01)
    release.set()
    for thread in [leader, *followers]:
        thread.join(5)
    assert len(errors) == 4 and flight.run("k", lambda: "recovered") == "recovered"


def test_redis_lock_is_exclusive_expires_and_only_its_holder_releases_it(client):
    with redis_store(client, "test-lock") as store:
        name = store.key("lock")
        first, second = RedisLock(client, name, ttl=5), RedisLock(client, name, ttl=5)
        assert first.acquire() and not second.acquire()
        assert not second.release() and client.exists(name)
        assert first.release() and not client.exists(name)
        short = RedisLock(client, name, ttl=0.05)
        assert short.acquire()
        threading.Event().wait(0.2)
        assert second.acquire() and not short.release()  # expired: someone else holds it now
        assert second.release()


def test_the_stampede_check_explains_an_unguarded_function_and_passes_a_guarded_one(client):
    from course_lib.checks.caching import check_stampede_guard

    def naive(store, key, load):
        value = store.get(key)
        if value is None:
            value = load(key)
            store.set(key, value, ttl=60)
        return value

    locks, guard = {}, threading.Lock()

    def guarded(store, key, load):
        value = store.get(key)
        if value is not None:
            return value
        with guard:
            lock = locks.setdefault(key, threading.Lock())
        with lock:
            value = store.get(key)
            if value is None:
                value = load(key)
                store.set(key, value, ttl=60)
        return value

    def cheating(store, key, load):
        return SingleFlight().fill(key, lambda: MISSING, lambda: load(key))

    with redis_store(client, "test-check") as store:
        with pytest.raises(CheckFailed, match="called 8 times"):
            check_stampede_guard(naive, store, threads=8, keys=("a",), quiet=True)
        assert check_stampede_guard(guarded, store, threads=12, keys=("b", "c"), quiet=True) == 2
        with pytest.raises(CheckFailed, match="SingleFlight"):
            check_stampede_guard(cheating, store, threads=4, keys=("d",), quiet=True)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_simulate_expiry_is_deterministic(strategy):
    assert simulate_expiry(strategy, seed=5) == simulate_expiry(strategy, seed=5)


def test_simulate_expiry_counts_the_stampede_and_what_each_guard_removes():
    runs = {s: simulate_expiry(s, duration=60, rate=200, ttl=10, recompute=0.5, seed=0) for s in STRATEGIES}
    expiries = runs["lock"].backend_calls
    assert expiries == 5  # fresh at 0, then a recomputation of 0.5 s after each expiry: 10, 20.5, 31, 41.5, 52
    assert runs["none"].backend_calls == expiries * 200 * 0.5 and runs["none"].peak_concurrent == 100
    assert runs["lock"].slowed == runs["none"].slowed and runs["lock"].peak_concurrent == 1
    assert runs["xfetch"].slowed == runs["xfetch"].backend_calls < runs["lock"].slowed / 10
    assert runs["xfetch+lock"].peak_concurrent == 1
    with pytest.raises(ValueError, match="strategy"):
        simulate_expiry("magic")


# --------------------------------------------------------------------------- two levels, adaptive TTL


def test_two_level_cache_serves_l1_then_l2_then_loads_and_bounds_staleness_by_l1_ttl(client):
    clock, prices = FakeClock(), {1: 10}
    with redis_store(client, "test-two") as shared:

        def make():
            return TwoLevelCache(
                lambda k: {"price": prices[k]}, shared, namespace="b", l1_capacity=10, l1_ttl=5, l2_ttl=300, clock=clock
            )

        a, b = make(), make()
        assert a.get(1) == b.get(1) == a.get(1) == {"price": 10}
        assert a.counts() == {"l1_hits": 1, "l2_hits": 0, "loads": 1}
        assert b.counts() == {"l1_hits": 0, "l2_hits": 1, "loads": 0}
        prices[1] = 20
        a.invalidate(1)
        assert a.get(1) == {"price": 20} and b.get(1) == {"price": 10}  # b's L1 is stale ...
        clock.advance(5)
        assert b.get(1) == {"price": 20}  # ... until its L1 TTL ends


def test_adaptive_ttl_grows_with_reads_decays_with_time_and_stays_in_bounds():
    clock = FakeClock()
    ttl = AdaptiveTTL(min_ttl=5, max_ttl=60, half_life=10, clock=clock)
    assert ttl("never") == 5
    for _ in range(4):
        ttl.record("k")
    assert ttl.score("k") == pytest.approx(4) and ttl("k") == 20
    clock.advance(10)
    assert ttl.score("k") == pytest.approx(2) and ttl("k") == 10
    for _ in range(100):
        ttl.record("k")
    assert ttl("k") == 60
    with pytest.raises(ValueError):
        AdaptiveTTL(min_ttl=10, max_ttl=5, half_life=1, clock=clock)


def test_simulate_ttl_counts_loads_and_memory_by_hand():
    trace = Trace("hand", np.array([1, 1, 2, 1, 1]), rate=1.0)  # requests at t = 0..4, run ends at 5
    run = simulate_ttl(trace, 2.0)
    assert run.loads == 3  # 1 at t=0, 2 at t=2, 1 at t=3 (expired at t=2)
    assert run.mean_resident == pytest.approx((2 + 2 + 2) / 5)
    assert run.hit_ratio == pytest.approx(0.4) and run.label == "fixed TTL 2 s"


# --------------------------------------------------------------------------- AIMD


def test_aimd_slow_start_then_additive_increase_and_multiplicative_decrease():
    controller = AIMDController(target=1.0, initial=1, increase=2, maximum=100)
    assert [controller.update(0.1) for _ in range(4)] == [2, 4, 8, 16]
    assert controller.update(5.0) == 8 and controller.cuts == 1
    assert [controller.update(0.1) for _ in range(3)] == [10, 12, 14]
    for _ in range(100):
        controller.update(0.1)
    assert controller.size == 100
    for _ in range(20):
        controller.update(9.9)
    assert controller.size == 1


def test_aimd_on_a_synthetic_server_settles_around_the_target_and_follows_a_change():
    """Batch time = 0.1 + per_item * size; per_item quadruples halfway."""
    clock = FakeClock()
    written = [0]

    def write(batch):
        per_item = 0.01 if written[0] < 5000 else 0.04
        clock.advance(0.1 + per_item * len(batch))
        written[0] += len(batch)

    controller = AIMDController(target=1.0, increase=5)
    run = run_batches(write, list(range(10_000)), controller, timer=clock)
    sizes, ends = np.array(run.sizes), np.cumsum(run.sizes)
    before, after = sizes[(ends > 1000) & (ends < 5000)], sizes[ends > 6000]
    assert 40 <= before.mean() <= 90 and 8 <= after.mean() <= 23  # sustainable: 90 items, then 22
    assert run.items == 10_000 and run.round_trips == len(sizes) and controller.cuts > 5
    assert 0 < run.over(1.0) < 0.3 and run.throughput == pytest.approx(10_000 / run.total_seconds)


def test_run_batches_with_a_fixed_size_counts_round_trips():
    batches = []
    run = run_batches(batches.append, list(range(25)), 10)
    assert [len(b) for b in batches] == [10, 10, 5] and run.round_trips == 3 and run.label == "fixed 10"
    assert set(run.summary(0.5)) == {"run", "items", "round trips", "items/s", "p95 batch (ms)", "batches over 500 ms"}


@pytest.mark.parametrize(
    "kwargs", [{"target": 0}, {"target": 1, "initial": 0}, {"target": 1, "decrease": 1.0}, {"target": 1, "increase": 0}]
)
def test_aimd_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        AIMDController(**kwargs)


# --------------------------------------------------------------------------- timing batch sizes


def test_time_batch_sizes_interleaves_sizes_and_reports_seconds_per_item():
    """Batch time = 0.1 s per round trip + 0.01 s per item, on a fake clock: exact per-item figures."""
    clock, order = FakeClock(), []

    def write(batch):
        order.append(len(batch))
        clock.advance(0.1 + 0.01 * len(batch))

    timings = time_batch_sizes(write, list(range(100)), [1, 10, 100], rounds=4, warmup=1, timer=clock)
    for n, expected in [(1, 0.11), (10, 0.02), (100, 0.011)]:
        assert timings[n].name == f"batch {n}" and timings[n].repeats == 4
        assert timings[n].samples == pytest.approx([expected] * 4) and timings[n].number == 100
    rounds = [order[i : i + 111] for i in range(0, len(order), 111)]  # 100 + 10 + 1 batches per round
    firsts = [r[0] for r in rounds]
    assert len(rounds) == 5 and firsts == [1, 10, 100, 1, 10]  # each round starts at the next size


@pytest.mark.parametrize(
    "kwargs", [{"items": []}, {"sizes": []}, {"sizes": [0]}, {"sizes": [2.5]}, {"rounds": 0}, {"warmup": -1}]
)
def test_time_batch_sizes_rejects_bad_arguments(kwargs):
    arguments = {"items": [1, 2, 3], "sizes": [1, 2], **kwargs}
    with pytest.raises(ValueError):
        time_batch_sizes(lambda batch: None, arguments.pop("items"), arguments.pop("sizes"), **arguments)


# --------------------------------------------------------------------------- HTTP caching


def test_http_etag_304_and_invalidation_on_put(shop, client):
    from course_lib.bookstore.app import app_client
    from course_lib.caching.bookstore import load_book
    from course_lib.caching.http import create_cached_app
    from course_lib.database.querycount import count_queries

    def fetch(book_id):
        with shop.session() as session:
            return load_book(session, book_id)

    with redis_store(client, "test-http") as store:
        books = CacheAside(fetch, store, ttl=60, namespace="book", clock=FakeClock())
        with app_client(create_cached_app(shop.engine, books, max_age=30)) as http:
            with count_queries(shop.engine) as log:
                first = http.get("/books/5")
                same = http.get("/books/5", headers={"If-None-Match": f'W/{first.headers["etag"]}, "other"'})
            assert (first.status_code, same.status_code, same.content, log.count) == (200, 304, b"", 1)
            assert first.headers["cache-control"] == "public, max-age=30"
            assert http.put("/books/5/price", json={"price_cents": 4321}).json()["price_cents"] == 4321
            changed = http.get("/books/5", headers={"If-None-Match": first.headers["etag"]})
            assert changed.status_code == 200 and changed.headers["etag"] != first.headers["etag"]
            assert http.get("/books/999999").status_code == 404
            assert http.put("/books/999999/price", json={"price_cents": 1}).status_code == 404
            assert http.get("/books", params={"limit": 2}).status_code == 200  # module 03's routes still work


def test_if_none_match_parsing():
    from course_lib.caching.http import etag_for, if_none_match

    tag = etag_for(b"body")
    assert if_none_match(tag, tag) and if_none_match(f'"x", W/{tag}', tag) and if_none_match("*", tag)
    assert not if_none_match(None, tag) and not if_none_match('"x"', tag)


# --------------------------------------------------------------------------- exercise: policy check


class _StudentLFU:
    """A correct from-scratch LFU, as the exercise asks."""

    def __init__(self, capacity):
        self.capacity, self.hits, self.misses, self.evictions = capacity, 0, 0, 0
        self.values, self.counts, self.buckets = {}, {}, {}

    def get(self, key):
        if key not in self.values:
            self.misses += 1
            return None
        self.hits += 1
        self._touch(key)
        return self.values[key]

    def put(self, key, value):
        if len(self.values) >= self.capacity:
            low = min(self.buckets)
            victim = next(iter(self.buckets[low]))
            del self.buckets[low][victim], self.values[victim], self.counts[victim]
            if not self.buckets[low]:
                del self.buckets[low]
            self.evictions += 1
        self.values[key], self.counts[key] = value, 1
        self.buckets.setdefault(1, {})[key] = None

    def _touch(self, key):
        count = self.counts[key]
        del self.buckets[count][key]
        if not self.buckets[count]:
            del self.buckets[count]
        self.counts[key] = count + 1
        self.buckets.setdefault(count + 1, {})[key] = None


def test_the_policy_check_passes_a_correct_lfu_and_explains_wrong_ones():
    from course_lib.checks.caching import check_policy

    cases = [(TRACES[0], 50), (TRACES[4], 7)]
    check_policy(_StudentLFU, cases, quiet=True)

    class LRUInDisguise(_StudentLFU):
        def _touch(self, key):  # every hit resets the count: recency, not frequency
            count = self.counts[key]
            del self.buckets[count][key]
            if not self.buckets[count]:
                del self.buckets[count]
            self.counts[key] = 1
            self.buckets.setdefault(1, {})[key] = None

    with pytest.raises(CheckFailed, match="first difference is request"):
        check_policy(LRUInDisguise, cases, quiet=True)

    class Delegating:
        def __init__(self, capacity):
            import cachetools

            self.cache, self.hits, self.misses, self.evictions = cachetools.LFUCache(capacity), 0, 0, 0

        def get(self, key):
            return self.cache.get(key)

        def put(self, key, value):
            self.cache[key] = value

    with pytest.raises(CheckFailed, match="cachetools.LFUCache"):
        check_policy(Delegating, cases, quiet=True)

    class BadCounters(_StudentLFU):
        def put(self, key, value):
            super().put(key, value)
            self.evictions = 0

    with pytest.raises(CheckFailed, match="counters"):
        check_policy(BadCounters, cases, quiet=True)


# --------------------------------------------------------------------------- real Redis only


def _fakeredis_counts(monkeypatch, run):
    with monkeypatch.context() as patch:
        patch.delenv(REDIS_ENV, raising=False)
        with redis_client() as fake:
            assert type(fake).__module__.startswith("fakeredis")
            return run(fake)


def _counts_of_a_lesson_run(redis) -> dict:
    """The counts section 3 and 5 of the lesson assert, on any Redis client."""
    clock = FakeClock()
    with redis_store(redis, "test-same-counts") as store:
        values = {k: {"k": k} for k in range(50)}
        cache = CacheAside(lambda k: values[k], store, ttl=10, namespace="v", clock=clock)
        for k in (zipf_trace(n_keys=50, n_requests=500, seed=9).keys).tolist():
            clock.advance(0.05)
            cache(k)
        cache.invalidate(3)
        cache(3)
        calls = dict(store.calls)  # before the stampedes: how often waiting threads poll depends on timing
        guarded = [
            _stampede(store, None),
            _stampede(store, SingleFlight()),
            _stampede(store, RedisLockGuard(redis, store.prefix)),
        ]
        return {"stats": cache.stats, "calls": calls, "stampede": guarded}


@pytest.mark.services
def test_real_redis_gives_the_same_counts_as_fakeredis(monkeypatch):
    required_url(REDIS_ENV)
    with redis_client() as real:
        assert not type(real).__module__.startswith("fakeredis")
        on_real = _counts_of_a_lesson_run(real)
    on_fake = _fakeredis_counts(monkeypatch, _counts_of_a_lesson_run)
    assert on_real["stampede"] == [16, 1, 1]
    assert on_real == on_fake


@pytest.mark.services
def test_real_redis_pipelines_and_native_expiry():
    required_url(REDIS_ENV)
    with redis_client() as real, redis_store(real, "test-real-pipe") as store:
        store.set_many([(f"k{i}", b"v") for i in range(500)], ttl=0.2)
        assert len(store.keys()) == 500 and store.round_trips == 1
        threading.Event().wait(0.5)  # Redis's own expiry (PX), not the course's logical one
        assert store.keys() == []
