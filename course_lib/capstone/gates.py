"""The capstone's gates: what the graded cells measure on a service made of your parts.

Each function builds its own fresh service from the :class:`~course_lib.capstone.service.Parts`
it is given (a new database, cache and warehouse) and observes it with counts, never with a
clock: statements per request, the plan of a query, the loader calls behind the cache, how many
warehouse calls were in progress at once, the waits a retry policy asked for, the samples on
``/metrics``. Nothing here times anything: :func:`slo_counts` judges the SLO by what each request
of the fixed workload costs (statements, database loads, calls that block the event loop, errors),
which holds on any machine, however busy; the load runs' latencies are printed, not gated.

>>> from course_lib.capstone.service import SLOW
>>> statements(SLOW, ["/books?limit=3"], scale=Scale.small())   # 1 page + 3 books' reviews + 3 authors
[7]
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from course_lib.bookstore.data import Scale
from course_lib.bookstore.explain import explain
from course_lib.capstone.load import load_warehouse, workload
from course_lib.capstone.service import CAPSTONE_SCALE, Parts, capstone_service
from course_lib.capstone.warehouse import Warehouse
from course_lib.database.querycount import count_queries
from course_lib.monitoring.metrics import parse_metrics

__all__ = [
    "RecordingSleep",
    "responses",
    "statements",
    "full_scans",
    "cache_counts",
    "overlap",
    "retry_trace",
    "metrics_snapshot",
    "slo_counts",
    "slo_proxy_met",
]

Request = str | tuple[str, str, dict | None]


@contextmanager
def app_client(app: Any) -> Iterator[Any]:
    """An in-process client; an exception that escapes the app is answered 500, as a server would."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*httpx2.*")
        from fastapi.testclient import TestClient
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


class RecordingSleep:
    """An async ``sleep`` that only writes down how long it was asked to wait (``waits``)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(float(seconds))


def _send(client: Any, request: Request) -> list:
    method, path, body = ("GET", request, None) if isinstance(request, str) else request
    response = client.request(method, path, json=body)
    try:
        content = response.json()
    except ValueError:
        content = response.text
    return [response.status_code, content]


def responses(parts: Parts, requests: Sequence[Request], *, scale: Scale = CAPSTONE_SCALE) -> list[list]:
    """``[status, body]`` for each request, in order, on one fresh service (a reliable warehouse
    without latency, retries waiting on a :class:`RecordingSleep`). A request is a path (a GET) or
    ``(method, path, json_body)``."""
    with capstone_service(parts, warehouse=Warehouse(latency=0), sleep=RecordingSleep(), scale=scale) as service:
        with app_client(service.app) as client:
            return [_send(client, request) for request in requests]


#: The count :func:`statements` gives a request the service failed to answer (5xx): over any budget.
FAILED = 10**6


def statements(parts: Parts, paths: Sequence[str], *, scale: Scale = CAPSTONE_SCALE) -> list[int]:
    """The number of SQL statements each GET of ``paths`` issues, one after the other, on a fresh
    service (:data:`FAILED` for a request answered with a 5xx)."""
    counts = []
    with capstone_service(parts, warehouse=Warehouse(latency=0), scale=scale) as service:
        with app_client(service.app) as client:
            for path in paths:
                with count_queries(service.engine) as log:
                    status = client.get(path).status_code
                counts.append(log.count if status < 500 else FAILED)
    return counts


def full_scans(parts: Parts, paths: Sequence[str], *, table: str = "reviews") -> list[list[str]]:
    """For each GET of ``paths``: the plans' steps that read all of ``table`` (a full scan), over
    every SELECT the request issued. On PostgreSQL the plans are asked with sequential scans
    discouraged, so that a small table still shows whether an index *can* serve the filter."""
    found = []
    with capstone_service(parts, warehouse=Warehouse(latency=0)) as service:
        with app_client(service.app) as client:
            for path in paths:
                with count_queries(service.engine) as log:
                    client.get(path)
                scans = []
                for statement in log.statements:
                    if not statement.sql.lstrip().upper().startswith("SELECT"):
                        continue
                    with service.engine.connect() as connection:
                        if connection.dialect.name == "postgresql":
                            connection.exec_driver_sql("SET enable_seqscan = off")
                        plan = explain(connection, statement.sql, parameters=statement.parameters)
                    scans += [line.strip() for line in plan.lines if _scan_line(line, table, plan.dialect)]
                found.append(sorted(set(scans)))
    return found


def _scan_line(line: str, table: str, dialect: str) -> bool:
    text = line.strip()
    if dialect == "sqlite":  # "SCAN reviews" or "SCAN reviews USING INDEX ix" both read every row
        return text.startswith(f"SCAN {table}")
    return f"Seq Scan on {table}" in text


def cache_counts(parts: Parts, requests: Sequence[Request]) -> dict[str, int]:
    """Send ``requests`` to a fresh service; count author reads, loads (database reads behind the
    cache) and distinct authors read."""
    with capstone_service(parts, warehouse=Warehouse(latency=0)) as service, app_client(service.app) as client:
        for request in requests:
            _send(client, request)
        authors = {r.split("/")[2] for r in requests if isinstance(r, str) and r.startswith("/authors/")}
        return {"reads": service.author_reads, "loads": service.author_loads, "distinct": len(authors)}


def _in_a_loop(coroutine: Any) -> Any:
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="capstone-gate") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def overlap(parts: Parts, book_ids: Sequence[int], *, timeout: float = 5.0) -> dict[str, Any]:
    """Send one ``GET /books/{id}/stock`` per id, all at once, to a fresh service whose warehouse
    holds each call made off the event loop until ``len(book_ids)`` calls are in progress together
    (``timeout`` s at most, a safety net that parallel calls never reach, however busy the machine).

    ``peak`` is the most warehouse calls that were in progress at once: ``len(book_ids)`` when the
    calls run in parallel, 1 when each blocks the event loop (such a call does not wait: it could
    never be joined); ``loop_calls`` counts those. Counted, not timed.
    """
    import httpx

    warehouse = Warehouse(latency=0)
    with capstone_service(parts, warehouse=warehouse) as service:

        async def main() -> list:
            transport = httpx.ASGITransport(app=service.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://capstone") as client:
                answers = await asyncio.gather(*(client.get(f"/books/{i}/stock") for i in book_ids))
            return [[a.status_code, a.json()] for a in answers]

        with warehouse.rendezvous(len(book_ids), timeout):
            answers = _in_a_loop(main())
    return {"peak": warehouse.peak, "calls": warehouse.calls, "loop_calls": warehouse.loop_calls, "answers": answers}


def retry_trace(
    parts: Parts, book_id: int, *, fail_next: int = 0, down: bool = False, max_calls: int = 60
) -> dict[str, Any]:
    """One ``GET /books/{book_id}/stock`` on a warehouse that fails its next ``fail_next`` calls (or
    every call, ``down``): the answer, the warehouse calls, and the waits asked for between them."""
    warehouse, sleep = Warehouse(latency=0, max_calls=max_calls), RecordingSleep()
    warehouse.fail_next(fail_next)
    warehouse.down = down
    with capstone_service(parts, warehouse=warehouse, sleep=sleep) as service, app_client(service.app) as client:
        answer = _send(client, f"/books/{book_id}/stock")
    return {"answer": answer, "calls": warehouse.calls, "waits": sleep.waits}


def metrics_snapshot(parts: Parts, requests: Sequence[Request], *, down_after: int | None = None) -> dict[str, Any]:
    """Send ``requests`` to a fresh service, then read its ``/metrics``. Returns what the RED
    checks compare: ``status`` of /metrics, the counter ``http_requests_total`` by (method, route,
    status), the count of ``http_request_duration_seconds`` by (method, route), and whether that
    histogram's buckets are consistent (``+Inf`` bucket = count, cumulative) and span 10 ms to 0.5 s.
    The warehouse goes down after ``down_after`` requests, if given (so that 503s appear)."""
    warehouse = Warehouse(latency=0, max_calls=500)
    with capstone_service(parts, warehouse=warehouse, sleep=RecordingSleep()) as service:
        with app_client(service.app) as client:
            for k, request in enumerate(requests):
                warehouse.down = down_after is not None and k >= down_after
                _send(client, request)
            page = client.get("/metrics")
    if page.status_code != 200:
        return {"status": page.status_code}
    counters, counts, buckets = {}, {}, {}
    for family in parse_metrics(page.text):
        for s in family.samples:
            labels = s.labels
            if s.name == "http_requests_total":
                key = (labels.get("method"), labels.get("route"), labels.get("status"))
                counters[key] = counters.get(key, 0) + s.value
            elif s.name == "http_request_duration_seconds_count":
                counts[(labels.get("method"), labels.get("route"))] = s.value
            elif s.name == "http_request_duration_seconds_bucket":
                key = (labels.get("method"), labels.get("route"))
                buckets.setdefault(key, []).append((float(labels["le"]), s.value))
    consistent, span = bool(buckets) and set(buckets) == set(counts), bool(buckets)
    for key, pairs in buckets.items():
        pairs.sort()
        values = [v for _, v in pairs]
        bounds = [b for b, _ in pairs if b != float("inf")]
        consistent &= pairs[-1][0] == float("inf") and pairs[-1][1] == counts.get(key) and values == sorted(values)
        span &= bool(bounds) and min(bounds) <= 0.01 and max(bounds) >= 0.5
    return {
        "status": 200,
        "requests": sorted([*key, value] for key, value in counters.items()),
        "duration_counts": sorted([*key, value] for key, value in counts.items()),
        "histogram_consistent": consistent,
        "buckets_span_10ms_to_500ms": span,
    }


#: The count-based budget that stands for the SLO: at most this many statements per request, no
#: call blocking the event loop, one database load per distinct author, at most 1% errors.
SLO_BUDGET = {"statements_per_request": 2, "loop_calls": 0, "error_rate": 0.01}


def slo_counts(parts: Parts, paths: Sequence[str] | None = None, *, seed: int = 1) -> dict[str, Any]:
    """The fixed workload (``paths``, default ``workload(200, seed=1)``) sent in order, in-process, to
    a fresh service made of ``parts`` whose warehouse fails 20% of its calls (seeded, no latency) and
    whose retries wait on a :class:`RecordingSleep`: what the requests cost, counted.

    ``errors`` (answers other than 200), ``max_statements`` and ``statements`` (SQL per request, the
    most and the sum), author ``reads``/``loads``/``distinct`` authors, ``warehouse_calls``,
    ``loop_calls`` (warehouse calls that blocked the event loop) and ``waits`` (seconds of back-off
    asked for). :func:`slo_proxy_met` judges them against :data:`SLO_BUDGET`.
    """
    paths = workload(200, seed=1) if paths is None else list(paths)
    warehouse = load_warehouse(seed)
    warehouse.latency = 0
    sleep = RecordingSleep()
    errors, counts = 0, []
    with capstone_service(parts, warehouse=warehouse, sleep=sleep) as service, app_client(service.app) as client:
        for path in paths:
            with count_queries(service.engine) as log:
                status = client.get(path).status_code
            errors += status != 200
            counts.append(log.count)
        reads, loads = service.author_reads, service.author_loads
    authors = {p.split("/")[2] for p in paths if p.startswith("/authors/")}
    return {
        "requests": len(paths),
        "errors": errors,
        "error_rate": errors / max(len(paths), 1),
        "max_statements": max(counts, default=0),
        "statements": sum(counts),
        "reads": reads,
        "loads": loads,
        "distinct": len(authors),
        "warehouse_calls": warehouse.calls,
        "loop_calls": warehouse.loop_calls,
        "waits": round(sum(sleep.waits), 6),
    }


def slo_proxy_met(counts: dict[str, Any]) -> bool:
    """Whether :func:`slo_counts`' counts are within :data:`SLO_BUDGET`."""
    return (
        counts["max_statements"] <= SLO_BUDGET["statements_per_request"]
        and counts["loop_calls"] <= SLO_BUDGET["loop_calls"]
        and counts["loads"] <= counts["distinct"]
        and counts["error_rate"] <= SLO_BUDGET["error_rate"]
    )
