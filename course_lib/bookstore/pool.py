"""Connection pools under load: an engine with chosen pool limits, and a burst of clients.

SQLAlchemy's ``QueuePool`` keeps up to ``pool_size`` connections open, opens up to
``max_overflow`` more when all are busy, and makes any further caller wait up to
``pool_timeout`` seconds for one to come back before raising
``sqlalchemy.exc.TimeoutError``. :func:`engine_with_pool` makes an engine with those limits
on the same database as an existing engine; :func:`checkout_burst` starts many threads at
once, each borrowing a connection for a while, and records how long each waited:

>>> from course_lib.backends import temporary_database
>>> with temporary_database() as engine:
...     with engine_with_pool(engine, pool_size=2) as small:
...         burst = checkout_burst(small, clients=6, hold=0.05)
>>> burst.timeouts, len(burst.waits)
(0, 6)
>>> bool(sum(w > 0.025 for w in burst.waits) >= 4)   # two got a connection at once; four had to wait
True
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine, create_engine, exc, text

__all__ = ["engine_with_pool", "checkout_burst", "Burst"]


def _detached_connection(engine: Engine):
    """A new DBAPI connection made by ``engine`` (with its connect arguments), owned by the caller."""
    borrowed = engine.raw_connection()
    borrowed.detach()  # public API: the connection leaves engine's pool and is closed by its new owner
    return borrowed.dbapi_connection


@contextmanager
def engine_with_pool(
    engine: Engine, *, pool_size: int, max_overflow: int = 0, timeout: float = 30.0
) -> Iterator[Engine]:
    """A new engine on ``engine``'s database with its own ``QueuePool`` of the given limits.

    New connections are made the way ``engine`` makes them (same URL and connect
    arguments, e.g. PostgreSQL's ``search_path``). Every connection is closed on exit.
    """
    if pool_size < 1 or max_overflow < 0 or timeout < 0:
        raise ValueError(
            f"need pool_size >= 1, max_overflow >= 0 and timeout >= 0; got {pool_size}, {max_overflow}, {timeout}"
        )
    pooled = create_engine(
        engine.url,
        creator=lambda: _detached_connection(engine),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=timeout,
    )
    try:
        yield pooled
    finally:
        pooled.dispose()


@dataclass(frozen=True)
class Burst:
    """What the clients of one burst saw."""

    clients: int
    hold: float  #: seconds each client kept its connection
    waits: np.ndarray  #: seconds each successful client waited for a connection
    timeouts: int  #: clients that gave up (``sqlalchemy.exc.TimeoutError``)
    timeout_waits: np.ndarray  #: seconds each of those waited before giving up


def checkout_burst(engine: Engine, clients: int, hold: float, sql: str = "SELECT 1") -> Burst:
    """``clients`` threads ask ``engine`` for a connection at the same moment; each runs
    ``sql``, keeps the connection ``hold`` seconds (standing for the rest of its request's
    work), and gives it back.

    Returns how long each waited for its connection. Every thread has finished when this
    returns, also when one of them failed (the first other error is raised after all ended).
    """
    waits: list[float] = []
    gave_up: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(clients, timeout=60)  # never wait forever for a thread that did not start

    def client() -> None:
        try:
            start.wait()
            asked = time.perf_counter()
            try:
                with engine.connect() as connection:
                    waited = time.perf_counter() - asked
                    connection.execute(text(sql)).all()
                    time.sleep(hold)
            except exc.TimeoutError:
                with lock:
                    gave_up.append(time.perf_counter() - asked)
                return
            with lock:
                waits.append(waited)
        except BaseException as error:  # reported to the caller below
            with lock:
                errors.append(error)

    threads = [threading.Thread(target=client, name=f"client-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return Burst(clients, hold, np.array(sorted(waits)), len(gave_up), np.array(sorted(gave_up)))
