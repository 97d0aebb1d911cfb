"""Self-checks for exercise 04: a failure explained in plain words, a pass in one line.

Each check runs the student's code the way the task describes, compares it with a
reference, and raises :class:`course_lib.checks.CheckFailed` with what happened, what was
expected and a hint. The hidden tests call the same functions with other data.

- :func:`check_policy`: a cache class replays traces; its hit, miss and eviction counts
  must equal ``cachetools``' on the same traces.
- :func:`check_cache_aside` (and :func:`check_bookstore_cache`, which it runs): reads and
  writes through ``get_book``/``update_price``; no read may return stale data, and reads
  must hit the cache.
- :func:`check_stampede_guard`: many threads miss on the same key(s) at once; the backend
  may be called once per key.
- :func:`forbidding`: fail if the code under test calls the course's or cachetools' own
  implementation instead of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from course_lib.caching.simulate import reference_stats
from course_lib.caching.stampede import StampedeScenario
from course_lib.caching.workloads import Trace
from course_lib.checks.calls import spying
from course_lib.checks.core import CheckFailed, passed

if TYPE_CHECKING:
    from course_lib.bookstore.data import Bookstore
    from course_lib.caching.stores import Store

__all__ = [
    "check_lfu_example",
    "check_policy",
    "check_bookstore_cache",
    "check_cache_aside",
    "check_stampede_guard",
    "forbidding",
    "Operation",
]


def _fail(what: str, *lines: str, hint: str = "") -> CheckFailed:
    text = [f"✗ Check failed: {what}", *(f"  {line}" for line in lines)]
    if hint:
        text.append(f"  hint:     {hint}")
    return CheckFailed("\n".join(text), what=what, hint=hint or None)


def _not_written(what: str) -> CheckFailed:
    return _fail(
        what,
        "it is not written yet (it still raises NotImplementedError)",
        hint="replace the `raise NotImplementedError(...)` line in the answer cell with your code, "
        "then run that cell again",
    )


# --------------------------------------------------------------------------- forbidden shortcuts


@contextmanager
def forbidding(targets: Sequence[tuple[object, str, str]]) -> Iterator[list[str]]:
    """Record calls to ``(owner, attribute, label)`` while the block runs; yields the labels called.

    ``owner`` is a class or module; its attribute is wrapped (and restored afterwards), so
    calls made through the class or module are seen.
    """
    with spying([(label, owner, attribute) for owner, attribute, label in targets]) as called:
        yield called


def _policy_spies() -> list[tuple[object, str, str]]:
    import cachetools

    from course_lib.caching import policies

    targets: list[tuple[object, str, str]] = []
    for name in ("LFUCache", "LRUCache", "FIFOCache", "TTLCache", "Cache"):
        targets.append((getattr(cachetools, name), "__setitem__", f"cachetools.{name}"))
    for name in ("LFUCache", "LRUCache", "FIFOCache", "TTLCache", "Cache"):
        targets.append((getattr(policies, name), "put", f"course_lib.caching.{name}"))
    return targets


# --------------------------------------------------------------------------- task (a)


def _replay_student(cache: Any, trace: Trace) -> list[bool]:
    hits = []
    for key in trace.keys.tolist():
        value = cache.get(key)
        if value is None:
            cache.put(key, True)
            hits.append(False)
        else:
            hits.append(True)
    return hits


def _replay_reference(policy: str, capacity: int, trace: Trace) -> list[bool]:
    import cachetools

    cache = {"LFU": cachetools.LFUCache, "LRU": cachetools.LRUCache, "FIFO": cachetools.FIFOCache}[policy](capacity)
    hits = []
    for key in trace.keys.tolist():
        if key in cache:
            cache[key]
            hits.append(True)
        else:
            cache[key] = True
            hits.append(False)
    return hits


def check_lfu_example(cls: type) -> None:
    """The worked example of exercise 04, task (a), step by step, with capacity 2."""
    what = "the worked example (capacity 2)"
    try:
        cache = cls(2)
        cache.put("a", 1)
        cache.put("b", 2)
        first = [cache.get("a"), cache.get("b")]
        cache.get("a")
        cache.put("c", 3)
        second = [cache.get("b"), cache.get("c")]
        counters = (getattr(cache, "hits", None), getattr(cache, "misses", None), getattr(cache, "evictions", None))
    except NotImplementedError:
        raise _not_written(f"{getattr(cls, '__name__', cls)}") from None
    except Exception as error:
        raise _fail(what, f"your class raised {type(error).__name__}: {error}") from error
    if first != [1, 2]:
        raise _fail(
            what,
            f"after put('a', 1) and put('b', 2), get('a') and get('b') gave {first}, not [1, 2]",
            hint="put stores the value; get returns it (and None for a key that is not cached)",
        )
    if second != [None, 3]:
        raise _fail(
            what,
            f"after the hits on a and put('c', 3), get('b') and get('c') gave {second}, "
            "not [None, 3]: b (2 uses) should have been evicted, not a (3 uses)",
            hint="when full, evict the entry with the lowest use count; an insertion counts as one use",
        )
    if counters != (4, 1, 1):
        raise _fail(
            what,
            f"(hits, misses, evictions) is {counters}, not (4, 1, 1)",
            hint="count a hit or a miss in every get(), and an eviction whenever put() removes an entry",
        )
    passed(f"{what}: b is evicted, a and c stay; (hits, misses, evictions) = (4, 1, 1)")


def check_policy(
    cls: type, cases: Sequence[tuple[Trace, int]], *, policy: str = "LFU", what: str | None = None, quiet: bool = False
) -> None:
    """``cls(capacity)`` replays each trace (``get``; ``put`` after a miss) like cachetools' ``policy``.

    Its ``hits``, ``misses`` and ``evictions`` attributes must equal the reference's, and it
    must not delegate to cachetools or to the course's own caches.
    """
    what = what or f"{getattr(cls, '__name__', cls)} against cachetools.{policy}Cache"
    for trace, capacity in cases:
        label = f"{trace.name}, {len(trace)} requests, capacity {capacity}"
        try:
            with forbidding(_policy_spies()) as called:
                cache = cls(capacity)
                hits = _replay_student(cache, trace)
        except NotImplementedError:
            raise _not_written(what) from None
        except Exception as error:
            raise _fail(
                what,
                f"on {label} your class raised {type(error).__name__}: {error}",
                hint="get(key) returns the value or None; put(key, value) stores it, evicting first "
                "when the cache is full",
            ) from error
        if called:
            raise _fail(
                what,
                f"your class used {sorted(set(called))[0]} instead of its own bookkeeping",
                hint="write the policy yourself with dicts (and, if you like, collections.OrderedDict)",
            )
        expected = reference_stats(policy, capacity, trace)
        reference_hits = _replay_reference(policy, capacity, trace)
        if hits != reference_hits:
            first = next(i for i, (a, b) in enumerate(zip(hits, reference_hits, strict=True)) if a != b)
            key = trace.keys[first]
            mine, theirs = ("hit", "miss") if hits[first] else ("miss", "hit")
            raise _fail(
                what,
                f"on {label}: {sum(hits)} hits, the reference has {expected.hits}",
                f"the first difference is request {first} (key {key}): yours was a {mine}, the reference's a {theirs}",
                hint="so an earlier eviction chose a different victim: evict the entry with the fewest "
                "uses (the insertion counts as one); among equals, the one used least recently",
            )
        counted = (getattr(cache, "hits", None), getattr(cache, "misses", None), getattr(cache, "evictions", None))
        if counted != (expected.hits, expected.misses, expected.evictions):
            raise _fail(
                what,
                f"on {label} the cache behaves right, but its counters say hits, misses, evictions = "
                f"{counted}; they should be {(expected.hits, expected.misses, expected.evictions)}",
                hint="count a hit or a miss in get(), and an eviction each time put() removes an entry "
                "to make room (replacing the value of a cached key is not an eviction)",
            )
    if not quiet:
        passed(f"{what}: same hits, misses and evictions on {len(cases)} trace{'s' * (len(cases) != 1)}")


# --------------------------------------------------------------------------- task (b)

#: ("read", book_id) or ("write", book_id, price_cents)
Operation = tuple


def _truth(shop: Bookstore, book_id: int) -> Any:
    from course_lib.caching.bookstore import load_book

    with shop.session() as session:
        return load_book(session, book_id)


def check_bookstore_cache(
    get_book: Callable[[int], Any],
    update_price: Callable[[int, int], Any],
    shop: Bookstore,
    operations: Sequence[Operation],
    *,
    what: str = "get_book and update_price",
    quiet: bool = False,
) -> dict[str, int]:
    """Run the operations in order; every read must equal the database, and reads must hit the cache.

    Query budget: a read may issue SQL only the first time a book is read, and the first
    time after each write to it (one statement each: ``load_book``). A write may issue
    at most two statements (the ``UPDATE``, and one ``load_book`` if it refreshes the
    cache). Returns the counts (reads, writes, read statements).
    """
    from course_lib.database.querycount import count_queries

    fresh: set[int] = set()  # books whose current value may be in the cache
    reads = writes = read_statements = 0
    with count_queries(shop.engine) as log:  # one listener; each call's statements are a difference
        for step, operation in enumerate(operations):
            kind, book_id = operation[0], operation[1]
            before = log.count
            try:
                result = get_book(book_id) if kind == "read" else update_price(book_id, operation[2])
            except NotImplementedError:
                raise _not_written(what) from None
            except Exception as error:
                call = f"get_book({book_id})" if kind == "read" else f"update_price({book_id}, {operation[2]})"
                raise _fail(what, f"step {step}: {call} raised {type(error).__name__}: {error}") from error
            issued = log.count - before
            if kind == "write":
                writes += 1
                fresh.discard(book_id)
                if issued > 2:
                    raise _fail(
                        what,
                        f"step {step}: update_price({book_id}, {operation[2]}) issued {issued} SQL "
                        "statements; one UPDATE (and at most one read) is enough",
                        hint="commit the new price with set_price, then invalidate the cached book",
                    )
                continue
            reads += 1
            read_statements += issued
            _check_read(what, step, operations, book_id, result, _truth(shop, book_id))
            if book_id in fresh and issued:
                raise _fail(
                    what,
                    f"step {step}: get_book({book_id}) issued {issued} SQL statement(s), but book "
                    f"{book_id} was read before and not written since: it should have come from the "
                    "cache",
                    hint="look in the store first (store.get); only on a miss load from the database, then "
                    "store the result (store.set) for the next read",
                )
            if issued > 1:
                raise _fail(
                    what,
                    f"step {step}: get_book({book_id}) issued {issued} SQL statements; a miss needs one (load_book)",
                )
            fresh.add(book_id)
    if not quiet:
        passed(
            f"{what}: {reads} reads and {writes} writes, no stale read, "
            f"{read_statements} SQL statements for the reads (only misses)"
        )
    return {"reads": reads, "writes": writes, "read_statements": read_statements}


def check_cache_aside(
    get_book: Callable[[Bookstore, Store, int], Any],
    update_price: Callable[[Bookstore, Store, int, int], Any],
    operations: Sequence[Operation],
    *,
    shop: Bookstore | None = None,
    store: Store | None = None,
    what: str = "get_book and update_price",
    quiet: bool = False,
) -> dict[str, int]:
    """:func:`check_bookstore_cache` for exercise 04's functions, which are given the shop and the cache.

    ``get_book(shop, store, book_id)`` and ``update_price(shop, store, book_id, price_cents)``
    run against ``shop`` and ``store``; without them, against a small temporary bookstore
    (seed 4) and an empty Redis store (:func:`course_lib.backends.redis_client`), both
    opened for this run and closed after it.
    """
    from course_lib.backends import redis_client
    from course_lib.bookstore.data import Scale, temporary_bookstore
    from course_lib.caching.stores import redis_store

    with ExitStack() as resources:
        if shop is None:
            shop = resources.enter_context(temporary_bookstore(Scale.small(), seed=4))
        if store is None:
            store = resources.enter_context(redis_store(resources.enter_context(redis_client()), "check-aside"))
        the_shop, the_store = shop, store
        return check_bookstore_cache(
            lambda book_id: get_book(the_shop, the_store, book_id),
            lambda book_id, price_cents: update_price(the_shop, the_store, book_id, price_cents),
            the_shop,
            operations,
            what=what,
            quiet=quiet,
        )


def _check_read(
    what: str, step: int, operations: Sequence[Operation], book_id: int, result: Any, expected: Any
) -> None:
    if result == expected:
        return
    wrote = [op for op in operations[:step] if op[0] == "write" and op[1] == book_id]
    if wrote and isinstance(result, dict) and isinstance(expected, dict):
        detail = (
            f"after update_price({book_id}, {wrote[-1][2]}), get_book({book_id}) returned price_cents="
            f"{result.get('price_cents')!r}: a stale read"
        )
    else:
        detail = f"get_book({book_id}) returned {result!r}"
    raise _fail(
        what,
        f"step {step}: {detail}",
        f"the database says: {expected!r}",
        hint="update_price must change the database first and then delete (or replace) the cached copy "
        "of that book; get_book must return what load_book returns",
    )


# --------------------------------------------------------------------------- task (c)


def check_stampede_guard(
    get_guarded: Callable[[Any, str, Callable[[str], Any]], Any],
    store: Store,
    *,
    threads: int = 16,
    keys: Sequence[str] = ("bestseller",),
    what: str | None = None,
    quiet: bool = False,
) -> int:
    """``threads`` threads call ``get_guarded(store, key, load)`` at once (keys taken in turn).

    ``load`` counts its calls and answers only once every thread has looked in the store (it
    waits up to 2 s for them), so an unguarded function calls it once for every thread that
    found the key missing. Expected: one call per key, every thread gets the value, none
    raises or hangs. The verdict on a correct guard does not depend on how the threads are
    scheduled: a thread that starts late finds the value stored. Returns the number of
    backend calls.
    """
    from course_lib.caching.stampede import RedisLockGuard, SingleFlight

    what = what or f"{threads} concurrent get_guarded calls for {len(keys)} missing key{'s' * (len(keys) != 1)}"
    scenario = StampedeScenario(store, threads=threads, hold=2.0)
    turn = iter(range(threads))

    def request() -> Any:
        key = keys[next(turn) % len(keys)]
        return get_guarded(scenario.store, key, scenario.load)

    with forbidding(
        [(SingleFlight, "run", "course_lib's SingleFlight"), (RedisLockGuard, "fill", "course_lib's RedisLockGuard")]
    ) as called:
        report = scenario.run(request)
    not_written = [e for e in report.errors if isinstance(e, NotImplementedError)]
    if not_written:
        raise _not_written("get_guarded")
    if called:
        raise _fail(
            what,
            f"get_guarded used {called[0]}; the task is to write the guard yourself",
            hint="a dict of threading.Lock objects, one per key, is enough",
        )
    if report.errors:
        error = report.errors[0]
        raise _fail(
            what, f"{len(report.errors)} of the {threads} calls raised, the first {type(error).__name__}: {error}"
        )
    if report.hung:
        raise _fail(
            what,
            f"{report.hung} of the {threads} threads never returned: a lock that is never "
            "released, or a wait that never ends?",
            hint="use `with lock:` so that the lock is released even when load raises",
        )
    wrong = [r for r in report.results if r != scenario.value]
    if wrong:
        raise _fail(what, f"{len(wrong)} callers got {wrong[0]!r} instead of the loaded value {scenario.value!r}")
    if report.backend_calls != len(keys):
        many = report.backend_calls > len(keys)
        raise _fail(
            what,
            f"the backend (load) was called {report.backend_calls} times; with a guard it is "
            f"called once per key, {len(keys)} here",
            hint=(
                "every thread that found the key missing called load: let one thread per key load "
                "while the others wait, and after getting the lock look in the store again"
            )
            if many
            else "a key was never loaded: did some thread return without a value?",
        )
    if not quiet:
        passed(
            f"{what}: {report.backend_calls} backend call{'s' * (report.backend_calls != 1)}, "
            f"every caller got the value"
        )
    return report.backend_calls
