"""Cache stampedes (dog-piles) and three guards against them.

When a popular entry is missing (it expired, or was just invalidated), every request
that arrives before someone has put it back misses too, and each one asks the database.
The guards:

- :class:`SingleFlight`: in one process, concurrent calls for the same key share one
  computation (the idea of Go's ``golang.org/x/sync/singleflight``).
- :class:`RedisLockGuard`: across processes, a lock in Redis (``SET key token NX PX``)
  lets one caller recompute while the others poll the cache.
- :func:`xfetch_should_refresh`: probabilistic early expiry (XFetch, Vattani, Chierichetti
  and Lowenstein, "Optimal Probabilistic Cache Stampede Prevention", VLDB 2015): before the
  entry expires, each request recomputes with a small probability that grows as expiry
  nears, so one request usually refreshes it while the others still get the old value.

:func:`simulate_expiry` compares them on a fake clock, and :class:`StampedeScenario`
counts backend calls when real threads miss on one key at once.

>>> flight = SingleFlight()
>>> flight.run("k", lambda: 42)
42
"""

from __future__ import annotations

import math
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from course_lib.caching.policies import MISSING

if TYPE_CHECKING:
    import redis

    from course_lib.caching.stores import Store

__all__ = [
    "Guard",
    "SingleFlight",
    "RedisLock",
    "RedisLockGuard",
    "xfetch_should_refresh",
    "STRATEGIES",
    "ExpiryRun",
    "simulate_expiry",
    "StampedeScenario",
    "StampedeReport",
]


class Guard(Protocol):
    """How a cache fills a missing entry: ``fill(key, recheck, compute)``.

    ``recheck()`` looks in the cache again (returns the value or ``MISSING``);
    ``compute()`` loads the value and stores it. A guard may call either, or neither
    (when it gets the value from another caller's ``compute``).
    """

    def fill(self, key: str, recheck: Callable[[], Any], compute: Callable[[], Any]) -> Any: ...


class _Flight:
    __slots__ = ("done", "value", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class SingleFlight:
    """Concurrent calls with the same key run the function once; the others wait and share its result.

    Works for the threads of one process (each process still computes once per key).
    ``shared`` counts the calls that got another call's result instead of computing.
    An exception raised by the computation reaches every waiting caller.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}
        self.shared = 0

    def run(self, key: str, fn: Callable[[], Any]) -> Any:
        """``fn()``, unless a call for ``key`` is already running: then wait for its result."""
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if leader:
                flight = self._flights[key] = _Flight()
            else:
                self.shared += 1
        assert flight is not None
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value
        try:
            flight.value = fn()
        except BaseException as error:
            flight.error = error
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()
        return flight.value

    def fill(self, key: str, recheck: Callable[[], Any], compute: Callable[[], Any]) -> Any:
        """Guard interface: the leader looks once more (someone may just have filled it), then computes."""

        def leader() -> Any:
            value = recheck()
            return compute() if value is MISSING else value

        return self.run(key, leader)


class RedisLock:
    """A lock in Redis that expires by itself: ``SET name token NX PX ttl``.

    Only the holder can release it: release deletes the key only if it still holds this
    lock's random token (checked inside ``WATCH``/``MULTI``, so no one else's lock is
    deleted when ours expired in between). The expiry means a crashed holder cannot block
    everyone forever; it also means a holder slower than ``ttl`` loses the lock.
    """

    def __init__(self, client: redis.Redis, name: str, ttl: float = 10.0) -> None:
        self.client, self.name, self.ttl = client, name, ttl
        self.token = uuid.uuid4().hex

    def acquire(self) -> bool:
        """Take the lock if it is free; never waits. True if we hold it now."""
        return bool(self.client.set(self.name, self.token, nx=True, px=max(1, round(self.ttl * 1000))))

    def release(self) -> bool:
        """Give the lock back if we still hold it; True if we did."""
        import redis as redis_lib

        with self.client.pipeline() as pipe:
            try:
                pipe.watch(self.name)
                current = pipe.get(self.name)
                if current is None or (current.decode() if isinstance(current, bytes) else current) != self.token:
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.delete(self.name)
                pipe.execute()
                return True
            except redis_lib.WatchError:
                return False


class RedisLockGuard:
    """Across processes: whoever gets the Redis lock computes; the others poll the cache.

    A caller that does not get the lock looks in the cache every ``poll`` seconds; if the
    lock disappears without a value (its holder crashed or gave up), it tries to take the
    lock itself; after ``wait`` seconds it computes anyway rather than fail (fail open).
    """

    def __init__(
        self, client: redis.Redis, prefix: str, *, lock_ttl: float = 10.0, poll: float = 0.005, wait: float = 5.0
    ) -> None:
        self.client, self.prefix = client, prefix
        self.lock_ttl, self.poll, self.wait = lock_ttl, poll, wait
        self.waited = 0  #: callers that got the value by polling instead of computing

    def fill(self, key: str, recheck: Callable[[], Any], compute: Callable[[], Any]) -> Any:
        lock = RedisLock(self.client, f"{self.prefix}{key}:lock", self.lock_ttl)
        deadline = time.monotonic() + self.wait
        while True:
            if lock.acquire():
                try:
                    value = recheck()
                    return compute() if value is MISSING else value
                finally:
                    lock.release()
            while time.monotonic() < deadline:
                time.sleep(self.poll)
                value = recheck()
                if value is not MISSING:
                    self.waited += 1
                    return value
                if not self.client.exists(lock.name):
                    break  # the holder is gone and left nothing: try to take the lock
            else:
                return compute()  # waited long enough: better a duplicate load than an error


def xfetch_should_refresh(now: float, expires: float, delta: float, beta: float, rng: random.Random) -> bool:
    """XFetch's test: recompute early if ``now - delta * beta * ln(U) >= expires``, U uniform in (0, 1].

    ``delta`` is how long the last recomputation took; ``beta`` > 1 favours earlier
    refreshes, < 1 later ones (1 is the paper's recommended default). The probability is
    tiny long before expiry and reaches 1 at expiry.
    """
    return now - delta * beta * math.log(1.0 - rng.random()) >= expires


#: The strategies :func:`simulate_expiry` knows.
STRATEGIES = ("none", "lock", "xfetch", "xfetch+lock")


@dataclass(frozen=True)
class ExpiryRun:
    """What happened to one hot key over a simulated run (see :func:`simulate_expiry`)."""

    strategy: str
    requests: int
    backend_calls: int  #: recomputations started
    slowed: int  #: requests that waited for a recomputation (their own or another's)
    peak_concurrent: int  #: most recomputations running at the same moment
    calls_at: list[float] = field(repr=False, default_factory=list)  #: start time of each recomputation


def simulate_expiry(
    strategy: str,
    *,
    duration: float = 60.0,
    rate: float = 200.0,
    ttl: float = 10.0,
    recompute: float = 0.5,
    beta: float = 1.0,
    seed: int = 0,
) -> ExpiryRun:
    """One hot key, requests arriving every ``1 / rate`` seconds of fake time, an entry living ``ttl``.

    Recomputing takes ``recompute`` seconds. Strategies:

    - ``"none"``: every request that finds no fresh entry recomputes (the stampede);
    - ``"lock"``: only the first one recomputes; later ones wait for it (single flight);
    - ``"xfetch"``: like none, plus XFetch's early refresh while the entry is still fresh;
    - ``"xfetch+lock"``: XFetch, but a request only considers an early refresh (or a
      recomputation after expiry) when none is running already.

    The entry starts fresh at time 0. Same arguments, same result (seeded).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(map(repr, STRATEGIES))}, got {strategy!r}")
    rng = random.Random(seed)
    expires, running, calls_at = ttl, [], []
    slowed = peak = 0
    for i in range(int(duration * rate)):
        now = i / rate
        finished = [t for t in running if t <= now]
        if finished:
            expires = max(finished) + ttl
            running = [t for t in running if t > now]
        early = strategy == "xfetch" or (strategy == "xfetch+lock" and not running)
        if now < expires:
            if early and xfetch_should_refresh(now, expires, recompute, beta, rng):
                running.append(now + recompute)
                calls_at.append(now)
                slowed += 1
        elif strategy in ("lock", "xfetch+lock") and running:
            slowed += 1  # waits for the recomputation in flight
        else:
            running.append(now + recompute)
            calls_at.append(now)
            slowed += 1
        peak = max(peak, len(running))
    return ExpiryRun(strategy, int(duration * rate), len(calls_at), slowed, peak, calls_at)


# --------------------------------------------------------------------------- real threads


class _GatedStore:
    """Wraps a store; counts lookups (``get``) and lets the backend wait until enough were made."""

    def __init__(self, inner: Store, expected: int) -> None:
        self.inner, self.expected = inner, expected
        self.lookups = 0
        self._lock = threading.Lock()
        self.all_looked = threading.Event()

    def get(self, key: str) -> bytes | None:
        value = self.inner.get(key)
        with self._lock:
            self.lookups += 1
            if self.lookups >= self.expected:
                self.all_looked.set()
        return value

    def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self.inner.set(key, value, ttl)

    def delete(self, *keys: str) -> int:
        return self.inner.delete(*keys)

    def __getattr__(self, name: str) -> Any:  # client, prefix, key(), ... of the wrapped store
        return getattr(self.inner, name)


@dataclass
class StampedeReport:
    """The outcome of :meth:`StampedeScenario.run`."""

    requests: int
    backend_calls: int
    results: list[Any]
    errors: list[BaseException]
    hung: int  #: threads still running when the run gave up on them

    def __str__(self) -> str:
        return (
            f"{self.requests} concurrent requests -> {self.backend_calls} backend call"
            f"{'s' if self.backend_calls != 1 else ''}, {len(self.errors)} errors"
        )


class StampedeScenario:
    """``threads`` requests miss on one key at the same moment; count how often the backend is called.

    Pass :attr:`store` to the code under test as its cache and :meth:`load` as its backend.
    ``load`` is slow in a controlled way: it returns only once every thread has looked in
    the cache at least once (or after ``hold`` seconds), so code without a guard calls it
    once per thread, every time, on any machine and either Redis backend.

    >>> from course_lib.caching.stores import MemoryStore
    >>> scenario = StampedeScenario(MemoryStore(), threads=4, hold=1.0)
    >>> def naive():
    ...     value = scenario.store.get("k")
    ...     if value is None:
    ...         value = scenario.load("k")
    ...         scenario.store.set("k", value)
    ...     return value
    >>> scenario.run(naive).backend_calls
    4
    """

    def __init__(self, store: Store, *, threads: int = 16, hold: float = 2.0, value: bytes = b"the value") -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads!r}")
        self.threads, self.hold, self.value = threads, hold, value
        self.store = _GatedStore(store, threads)
        self._calls = 0
        self._lock = threading.Lock()

    @property
    def backend_calls(self) -> int:
        return self._calls

    def load(self, key: str) -> bytes:
        """The backend: counts the call, waits for the other threads' lookups, returns the value."""
        with self._lock:
            self._calls += 1
        self.store.all_looked.wait(self.hold)
        return self.value

    def run(self, request: Callable[[], Any], *, timeout: float = 30.0) -> StampedeReport:
        """Start ``threads`` threads that call ``request()`` together; wait for all; report."""
        start = threading.Barrier(self.threads)
        results: list[Any] = []
        errors: list[BaseException] = []
        lock = threading.Lock()
        calls_before = self._calls
        self.store.lookups = 0
        self.store.all_looked.clear()

        def worker() -> None:
            try:
                start.wait(timeout)
                value = request()
                with lock:
                    results.append(value)
            except BaseException as error:  # reported, never lost in a thread
                with lock:
                    errors.append(error)

        workers = [threading.Thread(target=worker, daemon=True, name=f"stampede-{i}") for i in range(self.threads)]
        for thread in workers:
            thread.start()
        deadline = time.monotonic() + timeout
        for thread in workers:
            thread.join(max(0.0, deadline - time.monotonic()))
        hung = sum(thread.is_alive() for thread in workers)
        return StampedeReport(self.threads, self._calls - calls_before, results, errors, hung)
