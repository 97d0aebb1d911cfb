"""Self-checks for exercise 05 (monitoring and APM), in plain words (see :mod:`course_lib.checks`).

The checks run the student's code against :func:`make_shop`, the exercise's small FastAPI
shop, served on 127.0.0.1 in a background thread, and judge what the code records: request
counts, observations and bucket bounds, which request id each log line carries, the minutes
in which an alert fires. None of them depends on how fast the machine is.

- :func:`scrape_after`: an instrumented shop answers requests; its ``/metrics``, parsed.
- :func:`incident_month`, :func:`quiet_month` and :func:`check_alert`: an alert on a
  simulated month catches every incident in time and fires nowhere else; :func:`alert_firing`:
  the alert's answer on any timeline, checked to be one boolean per minute.
- :func:`logged_requests` and :func:`check_lines_match`: every log line a request writes
  carries the id returned in that request's ``X-Request-ID`` header.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import httpx
import numpy as np
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry

from course_lib.checks.calls import _resolve, spying
from course_lib.checks.core import _not_implemented, check_true, passed
from course_lib.monitoring import alerts
from course_lib.monitoring.metrics import parse_metrics, sample_values
from course_lib.monitoring.server import serve_in_thread

__all__ = [
    "SHOP_LOGGER",
    "make_shop",
    "Scrape",
    "scrape_after",
    "incident_month",
    "quiet_month",
    "alert_firing",
    "check_alert",
    "LineCollector",
    "logged_requests",
    "check_lines_match",
]

#: The name of the logger the shop's handlers write to.
SHOP_LOGGER = "shop"
_shop_log = logging.getLogger(SHOP_LOGGER)
_shop_log.addHandler(logging.NullHandler())  # silent unless a check attaches a handler of its own
_SERVER = {"log_level": "critical", "startup_timeout": 30, "shutdown_timeout": 30}


def _call_written(func: Callable[..., Any], *args: Any, name: str | None = None) -> Any:
    """``func(*args)``; a function that still raises NotImplementedError is explained in plain words."""
    try:
        return func(*args)
    except NotImplementedError as err:
        raise _not_implemented(func, f"calling {name or getattr(func, '__name__', func)}") from err


# --------------------------------------------------------------------------- the shop


def make_shop() -> FastAPI:
    """A fresh app with the exercise's three routes; its handlers log to the logger ``"shop"``.

    ``GET /orders/{order_id}`` answers 200, 404 for ids over 1000, 500 for ids divisible by
    13; ``POST /orders`` answers 201; ``GET /slow/{ms}`` answers 200 after ``ms`` milliseconds.

    >>> sorted(route.path for route in make_shop().routes if "{" in route.path)
    ['/orders/{order_id}', '/slow/{ms}']
    """
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def get_order(order_id: int) -> Any:
        _shop_log.info("looking up order %s", order_id)
        await asyncio.sleep(0.001 * (order_id % 3))  # let concurrent requests interleave
        if order_id > 1000:
            _shop_log.info("order %s not found", order_id)
            return JSONResponse({"detail": "no such order"}, status_code=404)
        if order_id % 13 == 0:
            _shop_log.error("payment service failed for order %s", order_id)
            return JSONResponse({"detail": "payment service unavailable"}, status_code=500)
        _shop_log.info("order %s served", order_id)
        return {"id": order_id}

    @app.post("/orders", status_code=201)
    async def create_order() -> dict[str, bool]:
        _shop_log.info("order created")
        return {"created": True}

    @app.get("/slow/{ms}")
    async def slow(ms: int) -> dict[str, int]:
        await asyncio.sleep(ms / 1000)
        return {"waited_ms": ms}

    return app


# --------------------------------------------------------------------------- task (a): RED metrics


class Scrape(NamedTuple):
    """What ``/metrics`` held after the requests (requests to ``/metrics`` itself left out)."""

    counts: dict[tuple[str, str, str], int]  #: shop_http_requests_total by (method, route, status)
    observed: dict[tuple[str, str], int]  #: observations in the latency histogram by (method, route)
    bounds: set[str]  #: the latency histogram's bucket bounds, as written in ``le`` ("0.25", "+Inf")
    buckets: dict[tuple[str, str, str], int]  #: the histogram's cumulative counts by (method, route, le)
    seconds: dict[tuple[str, str], float]  #: the histogram's sums by (method, route)
    labels: dict[str, list[str]]  #: the sorted label names of each series name read
    statuses: list[int]  #: the status codes the requests were answered with, in order


_SERIES = {
    "shop_http_requests_total": ("method", "route", "status"),
    "shop_http_request_duration_seconds_count": ("method", "route"),
    "shop_http_request_duration_seconds_sum": ("method", "route"),
    "shop_http_request_duration_seconds_bucket": ("method", "route", "le"),
}


def _by_labels(families: list, name: str, *keys: str) -> dict[tuple[str, ...], float]:
    """Sample values of ``name`` by the labels ``keys``, added up over any other labels."""
    values: dict[tuple[str, ...], float] = {}
    for labels, value in sample_values(families, name).items():
        found = dict(labels)
        if found.get("route") != "/metrics":
            key = tuple(found.get(k, "") for k in keys)
            values[key] = values.get(key, 0.0) + value
    return values


def _label_names(families: list, name: str) -> list[str]:
    return sorted({key for labels in sample_values(families, name) for key, _ in labels})


def scrape_after(
    instrument: Callable[[FastAPI, CollectorRegistry], Any],
    requests: Iterable[tuple[str, str]],
    app: FastAPI | None = None,
) -> Scrape:
    """An app (a fresh shop unless given) with ``instrument(app, registry)``: the ``(method, path)``
    requests sent, then ``/metrics`` read.

    The requests go over HTTP to the app served on 127.0.0.1, one after another, each on a
    connection of its own (the server drops the connection of a handler that raised).
    """
    app, registry = app if app is not None else make_shop(), CollectorRegistry()
    _call_written(instrument, app, registry)
    with (
        serve_in_thread(app, **_SERVER) as server,
        httpx.Client(base_url=server.url, timeout=30, headers={"Connection": "close"}) as client,
    ):
        statuses = [client.request(method, path).status_code for method, path in requests]
        metrics = client.get("/metrics")
    check_true(
        metrics.status_code == 200,
        f"GET /metrics answers 200 (it answered {metrics.status_code})",
        hint="add the route in instrument: @app.get('/metrics') returning generate_latest(registry)",
        success="GET /metrics answers 200",
    )
    families = parse_metrics(metrics.text)
    values = {name: _by_labels(families, name, *keys) for name, keys in _SERIES.items()}
    return Scrape(
        counts={key: int(value) for key, value in values["shop_http_requests_total"].items()},
        observed={key: int(value) for key, value in values["shop_http_request_duration_seconds_count"].items()},
        bounds={le for _, _, le in values["shop_http_request_duration_seconds_bucket"]},
        buckets={key: int(value) for key, value in values["shop_http_request_duration_seconds_bucket"].items()},
        seconds=values["shop_http_request_duration_seconds_sum"],
        labels={name: _label_names(families, name) for name in _SERIES},
        statuses=statuses,
    )


# --------------------------------------------------------------------------- task (c): burn-rate alerts

_DAY = alerts.MINUTES_PER_DAY


def incident_month() -> alerts.Timeline:
    """The self-check's two weeks with a 20-minute outage (30% errors) on day 2 and a slow burn (0.9%) on day 8."""
    return alerts.simulate_timeline(
        14,
        incidents=[
            alerts.Incident(2 * _DAY + 300, 20, 0.3, "outage"),
            alerts.Incident(8 * _DAY, 600, 0.009, "slow burn"),
        ],
        seed=21,
    )


def quiet_month() -> alerts.Timeline:
    """The self-check's two weeks without incidents: five 3-minute blips of 5% errors, which must not page."""
    return alerts.simulate_timeline(
        14, blips=[alerts.Incident(d * _DAY + 400, 3, 0.05, "blip") for d in (1, 4, 7, 10, 12)], seed=22
    )


def alert_firing(
    alert: Callable[[np.ndarray, np.ndarray, float], Any],
    requests: np.ndarray,
    errors: np.ndarray,
    slo: float = 0.999,
    *,
    what: str = "",
    must_not_call: Sequence[str] = (),
) -> np.ndarray:
    """``alert(requests, errors, slo)``, checked to be one boolean per minute and to call none of ``must_not_call``.

    >>> alert_firing(lambda r, e, slo: r > 1, np.array([1, 2]), np.array([0, 0])).tolist()
    [False, True]
    """
    targets = [(name, *_resolve(name)) for name in must_not_call]
    with spying(targets) as calls:
        firing = _call_written(alert, np.array(requests), np.array(errors), slo)
    if calls:
        used = ", ".join(sorted(set(calls)))
        check_true(False, f"{what}: burn_rate_alert computes the rules itself", hint=f"do not call {used}")
    if not (isinstance(firing, np.ndarray) and firing.dtype == bool and firing.shape == np.shape(requests)):
        check_true(
            False,
            f"{what}: burn_rate_alert returns one boolean per minute",
            hint="return a numpy array of booleans as long as requests",
        )
    return firing


def check_alert(
    alert: Callable[[np.ndarray, np.ndarray, float], Any],
    timeline: alerts.Timeline,
    deadlines: Sequence[float],
    what: str,
    *,
    must_not_call: Sequence[str] = (),
) -> alerts.AlertScore:
    """``alert(requests, errors, 0.999)`` catches each incident within its deadline (minutes), and fires nowhere else.

    ``must_not_call`` lists functions (dotted names) the alert must not use. The score's
    ``episodes`` are the ``[start, end)`` minutes of each stretch of firing.

    >>> check_alert(lambda r, e, slo: alerts.multiwindow_burn_rate_alert(r, e, slo=slo), quiet_month(), [], "quiet")
    ✓ quiet: burn_rate_alert returns one boolean per minute
    ✓ quiet: no alarm outside the incidents (0 found)
    AlertScore(detected=[], detection_minutes=[], reset_minutes=[], false_alarms=0, episodes=[], minutes_firing=0)
    """
    if len(deadlines) != len(timeline.incidents):
        raise ValueError(
            f"give one deadline per incident: {len(timeline.incidents)} incidents, {len(deadlines)} deadlines"
        )
    firing = alert_firing(alert, timeline.requests, timeline.errors, 0.999, what=what, must_not_call=must_not_call)
    passed(f"{what}: burn_rate_alert returns one boolean per minute")
    score = alerts.score_alert(firing, timeline)
    for incident, found, minutes, deadline in zip(
        timeline.incidents, score.detected, score.detection_minutes, deadlines
    ):
        check_true(
            found and minutes <= deadline,
            f"{what}: the {incident.name} is caught within {deadline:g} minutes",
            hint="fire when BOTH windows of a rule exceed factor * (1 - slo); either rule may fire",
        )
    check_true(
        score.false_alarms == 0,
        f"{what}: no alarm outside the incidents ({score.false_alarms} found)",
        hint="a short burst must not page: the long window (60 or 360 minutes) must also exceed the rate",
    )
    return score


# --------------------------------------------------------------------------- task (d): request ids


class LineCollector(logging.Handler):
    """A log handler that keeps ``(message, request_id)`` of every record it receives.

    >>> collector = LineCollector()
    >>> collector.handle(logging.makeLogRecord({"msg": "hello", "request_id": "abc"})) and collector.lines
    [('hello', 'abc')]
    """

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.getMessage(), getattr(record, "request_id", None)))


def logged_requests(
    add_request_ids: Callable[[FastAPI], Any],
    request_id_filter: Callable[[], logging.Filter],
    send: Callable[[str], list[httpx.Response]],
) -> tuple[list[httpx.Response], list[tuple[str, Any]]]:
    """A fresh shop with ``add_request_ids``; ``send(base_url)`` makes requests; returns them and the shop's log lines.

    The lines pass through ``request_id_filter()`` (the student's filter class) on their way
    to a :class:`LineCollector`: ``[(message, request_id), ...]``.
    """
    app = make_shop()
    _call_written(add_request_ids, app)
    request_filter = request_id_filter()
    probe = logging.makeLogRecord({"msg": "a line logged outside any request"})
    _call_written(request_filter.filter, probe, name=f"{type(request_filter).__name__}.filter")
    collector = LineCollector()
    collector.addFilter(request_filter)
    level = _shop_log.level
    _shop_log.addHandler(collector)
    _shop_log.setLevel(logging.INFO)
    try:
        with serve_in_thread(app, **_SERVER) as server:
            responses = send(server.url)
    finally:
        _shop_log.removeHandler(collector)
        _shop_log.setLevel(level)
    return responses, collector.lines


def check_lines_match(responses: Sequence[httpx.Response], lines: Sequence[tuple[str, Any]], what: str) -> None:
    """Every response has its own ``X-Request-ID``, and every line naming an order carries that order's id."""
    ids = [response.headers.get("x-request-id") for response in responses]
    check_true(
        all(ids),
        f"{what}: every response has an X-Request-ID header",
        hint="set response.headers['X-Request-ID'] in the middleware",
    )
    check_true(
        len(set(ids)) == len(ids),
        f"{what}: every request has its own id",
        hint="make a new id per request, e.g. uuid.uuid4().hex, unless the client sent one",
    )
    by_order = {
        int(response.url.path.rsplit("/", 1)[1]): response.headers["x-request-id"]
        for response in responses
        if response.url.path.startswith("/orders/")
    }
    wrong = [
        (message, request_id)
        for message, request_id in lines
        if (found := re.search(r"order (\d+)", message))
        and int(found[1]) in by_order
        and request_id != by_order[int(found[1])]
    ]
    check_true(
        not wrong,
        f"{what}: each log line carries the id returned in its request's header",
        hint=f"first wrong line: {wrong[:1]}; set request_id_var in the middleware, read it in the filter",
    )
