"""Self-checks for exercise 04: a failure explained in plain words, a pass in one line.

Each check runs the student's code the way the task describes, compares it with a
reference, and raises :class:`course_lib.checks.CheckFailed` with what happened, what was
expected and a hint. The hidden tests call the same functions with other data.

- :func:`check_policy`: a cache class replays traces; its hit, miss and eviction counts
  must equal ``cachetools``' on the same traces.
- :func:`check_cache_aside` (and :func:`check_bookstore_cache`, which it runs): reads and
  writes through ``get_book``/``update_price``; no read may return stale data, and reads
  must hit the cache. :func:`check_served_from_cache` changes a price behind the cache's
  back, so that a hit shows in the value returned; :func:`check_ttl` reads the expiry of
  every key a store holds.
- :func:`check_stampede_guard`: many threads miss on the same key(s) at once; the backend
  may be called once per key. :func:`check_keys_do_not_wait` and :func:`check_guard_recovers`:
  one key's load does not hold up another's, and a load that raises leaves no lock held.
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
    "check_served_from_cache",
    "check_ttl",
    "check_stampede_guard",
    "check_keys_do_not_wait",
    "check_guard_recovers",
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


def check_lfu_example(cls: type) -> dict[str, list]:
    """The worked example of exercise 04, task (a), step by step, with capacity 2.

    Returns what the class gave: the two pairs of ``get`` results and (hits, misses, evictions).
    """
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
    return {"gets": [first, second], "counters": list(counters)}


def check_policy(
    cls: type,
    cases: Sequence[tuple[Trace, int]],
    *,
    policy: str = "LFU",
    what: str | None = None,
    quiet: bool = False,
    stats: list | None = None,
) -> None:
    """``cls(capacity)`` replays each trace (``get``; ``put`` after a miss) like cachetools' ``policy``.

    Its ``hits``, ``misses`` and ``evictions`` attributes must equal the reference's, and it
    must not delegate to cachetools or to the course's own caches. If ``stats`` is given, one
    dict per case is appended to it: the class's counters and its hits and misses as a string
    (``"H"`` or ``"m"`` per request), what a check cell hands to ``probe``.
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
        counted = (getattr(cache, "hits", None), getattr(cache, "misses", None), getattr(cache, "evictions", None))
        if stats is not None:
            pattern = "".join("H" if hit else "m" for hit in hits)
            stats.append({"hits": counted[0], "misses": counted[1], "evictions": counted[2], "pattern": pattern})
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
    results: list | None = None,
    budget: bool = True,
) -> dict[str, int]:
    """Run the operations in order; every read must equal the database, and reads must hit the cache.

    Query budget: a read may issue SQL only the first time a book is read, and the first
    time after each write to it (one statement each: ``load_book``). A write may issue
    at most two statements (the ``UPDATE``, and one ``load_book`` if it refreshes the
    cache). ``budget=False`` checks the values only. Returns the counts (reads, writes, read
    statements); if ``results`` is given, what each read returned is appended to it.
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
            issued = log.count - before if budget else 0
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
            if results is not None:
                results.append(result)
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
    results: list | None = None,
    budget: bool = True,
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
            results=results,
            budget=budget,
        )


def check_served_from_cache(
    get_book: Callable[[Bookstore, Store, int], Any],
    update_price: Callable[[Bookstore, Store, int, int], Any],
    shop: Bookstore,
    store: Store,
    changes: Sequence[tuple[int, int, int]],
    *,
    what: str = "reads from the cache",
    quiet: bool = False,
) -> list[Any]:
    """For each ``(book_id, sneaked, written)``: read the book, change its price to ``sneaked``
    *behind the cache's back* (``set_price`` on the database, not ``update_price``), read it
    again, then ``update_price(..., written)`` and read it a third time.

    A cache-aside ``get_book`` answers the second read from the cache (the price before the
    sneaked change: that is how a hit shows in a value), and the third from the database (the
    written price). Returns the three reads of each change, in order: the same for every
    correct answer, so a check cell can hand them to ``probe``.
    """
    from course_lib.caching.bookstore import set_price

    reads: list[Any] = []
    for book_id, sneaked, written in changes:
        try:
            first = get_book(shop, store, book_id)
            with shop.session() as session:
                set_price(session, book_id, sneaked)
            second = get_book(shop, store, book_id)
            update_price(shop, store, book_id, written)
            third = get_book(shop, store, book_id)
        except NotImplementedError:
            raise _not_written(what) from None
        reads += [first, second, third]
        if second != first:
            raise _fail(
                what,
                f"book {book_id} was read, then its price was changed in the database without update_price; "
                f"the next get_book returned {second!r}, not the cached {first!r}",
                hint="get_book should look in the store first and return what it finds there; "
                "only a miss goes to the database",
            )
        truth = _truth(shop, book_id)
        if third != truth:
            raise _fail(
                what,
                f"after update_price({book_id}, {written}), get_book({book_id}) returned {third!r}",
                f"the database says: {truth!r}",
                hint="update_price must change the database first and then delete (or replace) the cached copy",
            )
    if not quiet:
        passed(f"{what}: {len(changes)} books read again from the cache, and fresh after update_price")
    return reads


def check_ttl(store: Store, *, at_most: float, what: str = "the cached entries' TTL", quiet: bool = False) -> int:
    """Every key ``store`` (a :class:`~course_lib.caching.stores.RedisStore`) holds expires, within
    ``at_most`` seconds. Returns how many keys it holds (at least one)."""
    keys = store.keys()
    if not keys:
        raise _fail(what, "the store holds no key: nothing was cached", hint="store each loaded value with store.set")
    remaining = {key: store.client.pttl(store.key(key)) for key in keys}
    forever = sorted(key for key, ms in remaining.items() if ms is not None and ms < 0 and ms != -2)
    if forever:
        raise _fail(
            what,
            f"{len(forever)} of {len(keys)} keys never expire, for example {forever[0]!r}",
            hint="pass the time-to-live when you store: store.set(key, value, ttl=...)",
        )
    longer = sorted(key for key, ms in remaining.items() if ms is not None and ms > at_most * 1000)
    if longer:
        raise _fail(
            what,
            f"{len(longer)} of {len(keys)} keys expire in more than {at_most:g} s, for example {longer[0]!r}",
            hint=f"the task asks for a TTL of {at_most:g} seconds",
        )
    if not quiet:
        passed(f"{what}: all {len(keys)} keys expire within {at_most:g} s")
    return len(keys)


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


def _in_thread(function: Callable[[], Any], timeout: float) -> tuple[bool, Any, BaseException | None]:
    """Run ``function()`` in a daemon thread; (finished within ``timeout``, its value, its error)."""
    import threading

    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as error:  # reported to the check, never lost in the thread
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True, name="check-guard")
    thread.start()
    thread.join(timeout)
    return not thread.is_alive(), outcome.get("value"), outcome.get("error")


def check_keys_do_not_wait(
    get_guarded: Callable[[Any, str, Callable[[str], Any]], Any],
    store: Store,
    *,
    wait: float = 5.0,
    what: str = "two keys loaded at once",
    quiet: bool = False,
) -> None:
    """While one thread's ``load("slow")`` runs, a ``get_guarded`` call for another key must be
    able to load: ``load("slow")`` waits (up to ``wait`` seconds) for ``load("quick")`` to run.

    The second call starts only once the first is inside ``load``, so a single lock for all keys
    is caught on any machine, and a lock per key passes on any machine.
    """
    import threading

    slow_loading, quick_loaded = threading.Event(), threading.Event()
    waited: list[bool] = []

    def load(key: str) -> bytes:
        if key == "quick":
            quick_loaded.set()
            return b"quick value"
        slow_loading.set()
        waited.append(not quick_loaded.wait(wait))
        return b"slow value"

    outcomes: dict[str, tuple[bool, Any, BaseException | None]] = {}
    slow = threading.Thread(
        target=lambda: outcomes.update(slow=_in_thread(lambda: get_guarded(store, "slow", load), 3 * wait)),
        daemon=True,
    )
    slow.start()
    if not slow_loading.wait(wait) and not outcomes:
        raise _fail(what, f"get_guarded(store, 'slow', load) did not call load within {wait:g} s")
    outcomes["quick"] = _in_thread(lambda: get_guarded(store, "quick", load), 3 * wait)
    slow.join(3 * wait)
    for key in ("slow", "quick"):
        finished, _, error = outcomes.get(key, (False, None, None))
        if isinstance(error, NotImplementedError):
            raise _not_written("get_guarded")
        if not finished:
            raise _fail(what, f"get_guarded(store, {key!r}, load) never returned", hint="use `with lock:`")
        if error is not None:
            raise _fail(what, f"get_guarded(store, {key!r}, load) raised {type(error).__name__}: {error}")
    results = [outcomes["slow"][1], outcomes["quick"][1]]
    if waited and waited[0]:
        raise _fail(
            what,
            "the load of 'quick' could not start while the load of 'slow' was running: the two keys "
            "waited for each other",
            hint="use one lock per key (a dict of locks, filled under a short-held lock), not one for all keys",
        )
    if results != [b"slow value", b"quick value"]:
        raise _fail(what, f"the calls returned {results!r}, not [b'slow value', b'quick value']")
    if not quiet:
        passed(f"{what}: the load of one key does not hold up the load of another")


def check_guard_recovers(
    get_guarded: Callable[[Any, str, Callable[[str], Any]], Any],
    store: Store,
    *,
    ttl: float = 60,
    timeout: float = 10.0,
    what: str = "a load that fails once",
    quiet: bool = False,
) -> list[Any]:
    """The first ``load`` raises; that error reaches the caller, and leaves no lock held: the next
    call loads again, and three more calls are served from the store. Stored with ``ttl`` at most.

    ``load`` returns ``b"load 2"`` on its second call, ``b"load 3"`` on its third (and so on), so
    a call that loads when it should have found the value shows in what it returns. Returns the
    five outcomes (the first as the name of the error raised).
    """
    calls: list[str] = []

    def load(key: str) -> bytes:
        calls.append(key)
        if len(calls) == 1:
            raise RuntimeError("the database is down")
        return f"load {len(calls)}".encode()

    outcomes: list[Any] = []
    for number in range(5):
        finished, value, error = _in_thread(lambda: get_guarded(store, "flaky", load), timeout)
        if isinstance(error, NotImplementedError):
            raise _not_written("get_guarded")
        if not finished:
            raise _fail(
                what,
                f"call {number + 1} of get_guarded never returned (waited {timeout:g} s)"
                + (": the failed load left its lock held" if number else ""),
                hint="use `with lock:`, which releases the lock also when load raises",
            )
        outcomes.append(type(error).__name__ if error is not None else value)
    expected = ["RuntimeError", b"load 2", b"load 2", b"load 2", b"load 2"]
    if outcomes != expected:
        raise _fail(
            what,
            f"five calls gave {outcomes!r}",
            f"expected {expected!r}: the error reaches the caller, the next call loads again, later calls hit",
            hint="let load's exception propagate (do not store anything then); store the value that loaded",
        )
    remaining = store.client.pttl(store.key("flaky")) if hasattr(store, "client") else None
    if remaining is not None and not 0 < remaining <= ttl * 1000:
        raise _fail(
            what,
            "the loaded value never expires"
            if remaining < 0
            else f"the loaded value expires in {remaining / 1000:g} s",
            hint=f"store it with store.set(key, value, ttl={ttl:g})",
        )
    if not quiet:
        passed(f"{what}: the error reaches the caller, the next call loads again, later calls hit the cache")
    return outcomes
