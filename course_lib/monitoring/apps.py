"""Apps to observe: instrument any FastAPI app factory, the course's bookstore included.

:func:`observe_app` takes an app factory (a function returning a FastAPI app, such as
``lambda: create_app(engine)`` from :mod:`course_lib.bookstore.app`), calls it, and adds
what module 05 teaches, without touching the factory's code: RED metrics and ``/metrics``,
tracing, an access log, request ids, and ``/health/live`` and ``/health/ready``. Given the
app's SQLAlchemy engine, it also traces every SQL statement as a span and logs slow ones
(:func:`instrument_engine`). :class:`Faults` injects trouble while the app runs: slow SQL
statements and failing requests, for the dashboard and the alerts to notice.

:func:`observed_bookstore` does all of it for the bookstore of module 03, in a temporary
database. :func:`create_sample_app` is a tiny app without a database, for tests::

    >>> observed = observe_app(create_sample_app)
    >>> observed.faults.error_ratio, len(observed.spans.get_finished_spans())
    (0.0, 0)
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CollectorRegistry

from course_lib.monitoring.health import HealthChecker, health_router
from course_lib.monitoring.logs import AccessLogMiddleware, RequestIdMiddleware
from course_lib.monitoring.metrics import LATENCY_BUCKETS, RedMetrics, instrument_app
from course_lib.monitoring.tracing import instrument_tracing, make_tracer_provider

__all__ = [
    "Faults",
    "FaultInjectionMiddleware",
    "instrument_engine",
    "ObservedApp",
    "observe_app",
    "observed_bookstore",
    "create_sample_app",
    "ACCESS_LOGGER",
    "SQL_LOGGER",
    "SAMPLE_LOGGER",
]

ACCESS_LOGGER = "course.access"  #: one line per request
SQL_LOGGER = "course.sql"  #: slow SQL statements
SAMPLE_LOGGER = "course.sample_app"  #: the sample app's own lines


@dataclass
class Faults:
    """Trouble to inject while an app runs; change it at any time with :meth:`set`.

    ``slow_ratio``: the share of SQL statements (or, in the sample app, database calls)
    that take ``slow_latency`` seconds longer; ``error_ratio``: the share of requests
    answered with a 500 before they reach the app. ``seed`` fixes the random draws.
    """

    slow_ratio: float = 0.0
    slow_latency: float = 0.05
    error_ratio: float = 0.0
    seed: int = 0
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def set(self, **changes: float) -> None:
        """Change several fields at once: ``faults.set(error_ratio=0.2)``."""
        for name, value in changes.items():
            if name not in ("slow_ratio", "slow_latency", "error_ratio"):
                raise AttributeError(f"Faults has no field {name!r}; use slow_ratio, slow_latency or error_ratio")
            setattr(self, name, value)

    def slow(self) -> bool:
        """Draw: should this call be slow?"""
        return self.slow_ratio > 0 and self.rng.random() < self.slow_ratio

    def fail(self) -> bool:
        """Draw: should this request fail?"""
        return self.error_ratio > 0 and self.rng.random() < self.error_ratio


class FaultInjectionMiddleware:
    """ASGI middleware answering a share (``faults.error_ratio``) of requests with a 500."""

    def __init__(self, app: Any, faults: Faults, *, excluded_prefixes: tuple[str, ...] = ("/metrics", "/health")):
        self.app = app
        self.faults = faults
        self.excluded_prefixes = excluded_prefixes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            scope["type"] == "http"
            and not scope.get("path", "").startswith(self.excluded_prefixes)
            and self.faults.fail()
        ):
            logging.getLogger(ACCESS_LOGGER).error("injected fault: database connection lost")
            response = JSONResponse({"detail": "internal error (injected fault)"}, status_code=500)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def instrument_engine(
    engine: Any, tracer_provider: TracerProvider, *, faults: Faults | None = None, slow_query_ms: float = 20.0
) -> Callable[[], None]:
    """Trace every SQL statement ``engine`` runs as a CLIENT span; log the slow ones.

    Each statement becomes a span ``"SELECT <table>"`` (attributes ``db.system``,
    ``db.statement``), a child of whatever span is current (the request's). Statements
    slower than ``slow_query_ms`` are logged at WARNING on :data:`SQL_LOGGER`. With
    ``faults``, a share of statements sleeps ``faults.slow_latency`` first: a slow
    database, as the app sees it. Returns a function that removes the listeners.
    """
    from sqlalchemy import event

    tracer = tracer_provider.get_tracer("course_lib.monitoring.sql")
    log = logging.getLogger(SQL_LOGGER)
    system = engine.dialect.name

    def before(conn, cursor, statement, parameters, context, executemany):
        words = statement.split()
        table = next((words[i + 1] for i, w in enumerate(words[:-1]) if w.upper() in ("FROM", "INTO", "UPDATE")), "")
        span = tracer.start_span(
            f"{words[0].upper() if words else 'SQL'} {table}".strip(),
            kind=SpanKind.CLIENT,
            attributes={"db.system": system, "db.statement": statement[:500]},
        )
        conn.info.setdefault("course_spans", []).append((span, time.perf_counter()))
        if faults is not None and faults.slow():
            time.sleep(faults.slow_latency)

    def after(conn, cursor, statement, parameters, context, executemany):
        span, start = conn.info["course_spans"].pop()
        elapsed_ms = (time.perf_counter() - start) * 1e3
        with trace.use_span(span, end_on_exit=True):
            if elapsed_ms > slow_query_ms:
                log.warning("slow query", extra={"duration_ms": round(elapsed_ms, 3), "statement": statement[:200]})

    def failed(context):
        spans = context.connection.info.get("course_spans") if context.connection is not None else None
        if spans:
            span, _ = spans.pop()
            span.set_status(Status(StatusCode.ERROR, str(context.original_exception)))
            span.end()

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "handle_error", failed)

    def remove() -> None:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        event.remove(engine, "handle_error", failed)

    return remove


@dataclass
class ObservedApp:
    """An app with module 05's instrumentation, and the handles to read what it records."""

    app: FastAPI
    metrics: RedMetrics
    tracer_provider: TracerProvider
    spans: SpanExporter  #: ``spans.get_finished_spans()``; ``spans.clear()`` to start afresh
    health: HealthChecker
    faults: Faults

    @property
    def registry(self) -> CollectorRegistry:
        return self.metrics.registry


def observe_app(
    factory: Callable[[], FastAPI],
    *,
    faults: Faults | None = None,
    health_checks: Mapping[str, Callable[[], Any]] | None = None,
    health_timeout: float | None | Mapping[str, float | None] = 0.5,
    health_cache_seconds: float = 2.0,
    buckets: tuple[float, ...] = LATENCY_BUCKETS,
    exporter: SpanExporter | None = None,
) -> ObservedApp:
    """Call ``factory()`` and instrument the app it returns (the factory is not changed).

    From the inside out: fault injection (``faults``), RED metrics with ``GET /metrics``
    (a fresh registry), the access log (:data:`ACCESS_LOGGER`), tracing (spans in memory
    unless ``exporter`` is given), request ids (``X-Request-ID``), and ``/health/live``
    and ``/health/ready`` running ``health_checks`` (none: always ready). If the app has
    a SQLAlchemy engine on ``app.state.engine`` (the bookstore does), its statements are
    traced too. Log lines become JSON with :class:`~course_lib.monitoring.logs.JsonFormatter`
    wherever you attach it (see :func:`~course_lib.monitoring.logs.capture_logs`).
    """
    app = factory()
    faults = faults if faults is not None else getattr(app.state, "faults", None) or Faults()
    app.state.faults = faults
    app.add_middleware(FaultInjectionMiddleware, faults=faults)
    metrics = instrument_app(app, CollectorRegistry(), buckets=buckets)
    app.add_middleware(AccessLogMiddleware, logger=ACCESS_LOGGER)
    provider, spans = make_tracer_provider(exporter)
    instrument_tracing(app, provider)
    app.add_middleware(RequestIdMiddleware)
    engine = getattr(app.state, "engine", None)
    if engine is not None:
        instrument_engine(engine, provider, faults=faults)
    checker = HealthChecker(health_checks or {}, timeout=health_timeout, cache_seconds=health_cache_seconds)
    app.include_router(health_router(checker))
    return ObservedApp(app, metrics, provider, spans, checker, faults)


@contextmanager
def observed_bookstore(
    scale: Any = None, seed: int = 0, *, variant: str = "optimised", **options: Any
) -> Iterator[ObservedApp]:
    """The bookstore of module 03 in a temporary database, observed (see :func:`observe_app`).

    ``scale`` defaults to ``Scale.small()``. The readiness check runs ``SELECT 1`` on the
    database unless ``health_checks`` says otherwise. The database is removed on exit.
    The observed app's ``app.state.engine`` is the bookstore's engine.
    """
    from sqlalchemy import text

    from course_lib.bookstore import Scale, temporary_bookstore
    from course_lib.bookstore.app import create_app

    with temporary_bookstore(scale or Scale.small(), seed=seed) as store:

        def database() -> None:
            with store.engine.connect() as connection:
                connection.execute(text("SELECT 1"))

        options.setdefault("health_checks", {"database": database})
        observed = observe_app(lambda: create_app(store.engine, variant=variant), **options)
        yield observed


def create_sample_app(faults: Faults | None = None, n_books: int = 1000, db_latency: float = 0.002) -> FastAPI:
    """A catalogue of ``n_books`` books without a database: ``GET /books/{book_id}``, ``GET /books``.

    The "database" is a dict behind ``await asyncio.sleep(db_latency)`` (longer for a share
    ``faults.slow_ratio`` of calls). Unknown ids give 404. Handlers log through
    :data:`SAMPLE_LOGGER` and, when the app is traced (``app.state.tracer``), make child
    spans for the two database calls and rendering.
    """
    app = FastAPI(title="course sample catalogue")
    app.state.faults = faults = faults or Faults()
    books = {i: {"id": i, "title": f"Book {i}", "author_id": i % 97} for i in range(1, n_books + 1)}
    log = logging.getLogger(SAMPLE_LOGGER)

    def span(request: Request, name: str):
        tracer = getattr(request.app.state, "tracer", None)
        return nullcontext() if tracer is None else tracer.start_as_current_span(name)

    async def database_call() -> None:
        await asyncio.sleep(db_latency + (request_faults().slow_latency if request_faults().slow() else 0.0))

    def request_faults() -> Faults:
        return app.state.faults

    @app.get("/books/{book_id}")
    async def get_book(book_id: int, request: Request):
        log.info("looking up book", extra={"book_id": book_id})
        with span(request, "db.select book"):
            await database_call()
            book = books.get(book_id)
        if book is None:
            return JSONResponse({"detail": "no such book"}, status_code=404)
        with span(request, "db.select author"):
            await database_call()
        with span(request, "render"):
            body = {**book, "author": f"Author {book['author_id']}"}
        log.info("book served", extra={"book_id": book_id})
        return body

    @app.get("/books")
    async def list_books(request: Request, limit: int = 20):
        with span(request, "db.select books"):
            await database_call()
        return [books[i] for i in range(1, min(limit, len(books)) + 1)]

    return app
