"""RED metrics (rate, errors, duration) for any ASGI/FastAPI app, and a ``/metrics`` endpoint.

:class:`RedMetricsMiddleware` is a plain ASGI middleware. For every HTTP request it records

==========================================  =========  ===============================
series                                      type       labels
==========================================  =========  ===============================
``http_requests_total``                     counter    method, route, status
``http_request_duration_seconds``           histogram  method, route
``http_requests_in_progress``               gauge      method
==========================================  =========  ===============================

The names follow Prometheus' naming conventions (docs: "Metric and label naming"): base
units (seconds), ``_total`` on counters, the unit as a suffix. ``route`` is the route
*template* (``/books/{book_id}``), never the raw path, so the number of series stays
bounded however many ids clients ask for; a request that matches no route is counted under
``<unmatched>``. ``status`` is the status code as a string (``"200"``). Errors are the
requests with a 5xx status; an exception that escapes the app is counted as ``"500"``.

The metrics live in a :class:`~prometheus_client.CollectorRegistry` that you pass in (or a
fresh one per app), never in the global default registry, so two apps in one notebook
never mix their counts::

    >>> from fastapi import FastAPI
    >>> from prometheus_client import CollectorRegistry
    >>> app = FastAPI()
    >>> registry = CollectorRegistry()
    >>> metrics = instrument_app(app, registry)       # adds the middleware and GET /metrics
    >>> metrics.registry is registry
    True
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

__all__ = [
    "LATENCY_BUCKETS",
    "UNMATCHED_ROUTE",
    "RedMetrics",
    "RedMetricsMiddleware",
    "instrument_app",
    "metrics_endpoint",
    "parse_metrics",
    "sample_values",
    "route_template",
]

#: Bucket bounds (seconds) for request latency: dense between 5 ms and 1 s, with bounds at
#: 0.1, 0.25 and 0.5 s so that common SLO thresholds are bucket bounds (see the lesson).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
)
#: The ``route`` label of requests that match no route (404s for unknown paths).
UNMATCHED_ROUTE = "<unmatched>"


def route_template(scope: dict[str, Any]) -> str:
    """The route template Starlette matched for ``scope`` (``"/books/{book_id}"``), or ``<unmatched>``.

    Starlette's router stores the matched route in ``scope["route"]`` while it handles the
    request, so read it after the app has run. For a route inside a mounted sub-application
    the mount's path is put in front of the inner template.
    """
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not path:
        return UNMATCHED_ROUTE
    if "app_root_path" in scope:  # set by Starlette when a Mount matched
        mount = scope.get("root_path", "")[len(scope["app_root_path"]) :]
        return mount + path
    return path


class RedMetrics:
    """The RED metrics of one app, registered in ``registry`` (see the module docstring).

    ``namespace`` prefixes every name (``bookstore_http_...``); ``buckets`` are the latency
    histogram's upper bounds in seconds. :meth:`observe` records one request; the
    middleware :class:`RedMetricsMiddleware` calls it for every HTTP request.
    """

    def __init__(
        self, registry: CollectorRegistry, *, namespace: str = "", buckets: Sequence[float] = LATENCY_BUCKETS
    ) -> None:
        self.registry = registry
        self.requests = Counter(
            "http_requests",
            "HTTP requests handled, by method, route template and status code.",
            ["method", "route", "status"],
            namespace=namespace,
            registry=registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from request received to response sent, in seconds.",
            ["method", "route"],
            namespace=namespace,
            buckets=tuple(buckets),
            registry=registry,
        )
        self.in_progress = Gauge(
            "http_requests_in_progress",
            "HTTP requests being handled right now.",
            ["method"],
            namespace=namespace,
            registry=registry,
        )

    def observe(self, method: str, route: str, status: str, seconds: float) -> None:
        """Record one finished request."""
        self.requests.labels(method, route, status).inc()
        self.duration.labels(method, route).observe(seconds)


class RedMetricsMiddleware:
    """ASGI middleware that records every HTTP request into a :class:`RedMetrics`.

    Requests to ``excluded_paths`` (default: ``/metrics``) are not recorded, so a
    scraper's own requests do not show up as traffic.
    """

    def __init__(self, app: Any, metrics: RedMetrics, excluded_paths: Iterable[str] = ("/metrics",)) -> None:
        self.app = app
        self.metrics = metrics
        self.excluded_paths = frozenset(excluded_paths)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") in self.excluded_paths:
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET")
        status = "500"  # what the client gets if the app raises before responding
        recorded = False
        start = time.perf_counter()

        def record() -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                self.metrics.observe(method, route_template(scope), status, time.perf_counter() - start)

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                # Recorded as the last byte goes out, before the client can see it: a scrape that
                # follows the response always counts it, and clean-up that the app does after
                # responding (closing a database session, say) is not part of the latency.
                record()
            await send(message)

        gauge = self.metrics.in_progress.labels(method)
        gauge.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            gauge.dec()
            record()  # no complete response was sent (the app raised): counted as it ends


def metrics_endpoint(registry: CollectorRegistry):
    """An endpoint function (FastAPI or Starlette) that serves ``registry`` in the text format."""
    from starlette.responses import Response

    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return metrics


def instrument_app(
    app: Any,
    registry: CollectorRegistry | None = None,
    *,
    path: str = "/metrics",
    namespace: str = "",
    buckets: Sequence[float] = LATENCY_BUCKETS,
) -> RedMetrics:
    """Add :class:`RedMetricsMiddleware` and a ``/metrics`` endpoint to a FastAPI app.

    Returns the :class:`RedMetrics` (a fresh registry unless you pass one). Call it before
    the app serves its first request; Starlette refuses new middleware after that.
    """
    metrics = RedMetrics(
        registry if registry is not None else CollectorRegistry(), namespace=namespace, buckets=buckets
    )
    app.add_api_route(path, metrics_endpoint(metrics.registry), methods=["GET"], include_in_schema=False)
    app.add_middleware(RedMetricsMiddleware, metrics=metrics, excluded_paths=(path,))
    return metrics


def parse_metrics(text: str) -> list:
    """Parse Prometheus text exposition into metric families (prometheus_client's parser)."""
    return list(text_string_to_metric_families(text))


def sample_values(families: Iterable, name: str, **labels: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples called ``name`` whose labels include ``labels``: ``{sorted label pairs: value}``.

    >>> fams = parse_metrics('c_total{route="/a",status="200"} 3.0\\nc_total{route="/a",status="500"} 1.0\\n')
    >>> sample_values(fams, "c_total", route="/a")
    {(('route', '/a'), ('status', '200')): 3.0, (('route', '/a'), ('status', '500')): 1.0}
    """
    out = {}
    for family in families:
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out
