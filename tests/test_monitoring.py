"""course_lib.monitoring: metrics, quantiles, logs, traces, health, alerts, server, load.

The tests marked ``services`` start Debian's ``prometheus`` binary on 127.0.0.1 and compare
course_lib with it. They are skipped (with the reason) when the binary is not installed,
except under CI=true, where that is a failure: CI must prove the agreement, not skip it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import shutil
import socket
import subprocess
import threading
import time

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI, HTTPException
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient
from needs import required_url, skip_or_fail
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from course_lib.monitoring import alerts, quantiles
from course_lib.monitoring.apps import (
    ACCESS_LOGGER,
    SAMPLE_LOGGER,
    SQL_LOGGER,
    FaultInjectionMiddleware,
    Faults,
    create_sample_app,
    instrument_engine,
    observe_app,
    observed_bookstore,
)
from course_lib.monitoring.health import HealthChecker, health_router
from course_lib.monitoring.load import (
    Phase,
    client_signals,
    frozen_gc,
    gc_pauses,
    golden_signals,
    run_load,
    scraping,
)
from course_lib.monitoring.logs import JsonFormatter, RequestIdMiddleware, capture_logs, request_id_var
from course_lib.monitoring.metrics import (
    UNMATCHED_ROUTE,
    instrument_app,
    parse_metrics,
    route_template,
    sample_values,
)
from course_lib.monitoring.promql import (
    DEFAULT_APP_PORT,
    PrometheusAPI,
    PrometheusError,
    instance_selector,
    lesson_app_port,
    range_signals,
    run_prometheus,
    scrape_config,
)
from course_lib.monitoring.quantiles import cumulative_buckets, fraction_at_most, histogram_buckets, histogram_quantile
from course_lib.monitoring.server import free_port, serve_in_thread
from course_lib.monitoring.tracing import instrument_tracing, make_tracer_provider, plot_span_waterfall, spans_table

INF = math.inf
NAN = math.nan


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)


# --- histogram_quantile: Prometheus' rules, one by one --------------------------------------


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        (0.5, {"0.1": 10, "0.5": 30, "1": 40, "+Inf": 40}, 0.3),  # interpolated in (0.1, 0.5]
        (0.25, {"0.1": 10, "0.5": 30, "1": 40, "+Inf": 40}, 0.1),  # rank 10 lands on the first bucket's top
        (0.1, {"0.1": 10, "0.5": 30, "+Inf": 40}, 0.04),  # lowest bucket: from 0 up to 0.1
        (0.9, {"0.1": 10, "0.5": 30, "+Inf": 40}, 0.5),  # in +Inf: the largest finite bound
        (1.0, {"0.1": 10, "0.5": 40, "+Inf": 40}, 0.5),  # rank 40 reached by le=0.5
        (0.0, {"0.1": 10, "0.5": 40, "+Inf": 40}, 0.0),  # q = 0: the assumed lower bound 0
        (0.0, {"0.1": 0, "0.5": 40, "+Inf": 40}, NAN),  # ... NaN when the lowest bucket is empty
        (0.5, {"0.1": 0, "0.2": 5, "+Inf": 5}, 0.15),  # empty buckets below are skipped
        (0.5, {"-1": 2, "0": 4, "1": 10, "+Inf": 10}, 0.1666666666666666),
        (0.1, {"-1": 2, "0": 4, "1": 10, "+Inf": 10}, -1.0),  # lowest bound <= 0 is returned as is
        (0.5, {"0.1": 5, "0.2": 3, "0.4": 9, "+Inf": 10}, 0.1),  # non-monotonic: the envelope (5, 5, 9, 10)
        (0.5, [(0.1, 4), ("0.10", 2), (1, 8), ("+Inf", 9)], 0.075),  # same bound twice: merged (6, 8, 9)
        (0.5, {"+Inf": 10, "1": 6, "0.5": 2}, 0.875),  # any order
        (0.5, {"1e-3": 3, "2.5e-2": 8, "+Inf": 9}, 0.0082),  # 0.001 + 0.024 * 1.5 / 5
        (0.5, {"0.1": 1, "1": 5}, NAN),  # no +Inf bucket
        (0.5, {"+Inf": 7}, NAN),  # fewer than two buckets
        (0.5, {"0.1": 0, "1": 0, "+Inf": 0}, NAN),  # no observations
        (0.5, {}, NAN),
        (-0.1, {"0.1": 10, "+Inf": 10}, -INF),
        (1.1, {"0.1": 10, "+Inf": 10}, INF),
        (NAN, {"0.1": 10, "+Inf": 10}, NAN),
    ],
)
def test_histogram_quantile_follows_prometheus(q, buckets, expected):
    result = histogram_quantile(q, buckets)
    assert same(result, expected) or math.isclose(result, expected, rel_tol=1e-3), (result, expected)


def test_histogram_quantile_does_not_change_its_input():
    buckets = {"0.1": 5, "0.2": 3, "+Inf": 10}
    histogram_quantile(0.5, buckets)
    assert buckets == {"0.1": 5, "0.2": 3, "+Inf": 10}


def test_parse_le_explains_a_bad_bound():
    with pytest.raises(ValueError, match="not a number"):
        quantiles.parse_le("fast")


def test_cumulative_buckets_match_prometheus_client():
    rng = np.random.default_rng(3)
    samples = np.round(rng.lognormal(-3, 1, 2000), 3)
    bounds = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
    samples[:5] = bounds[:5]  # values exactly on a bound belong to that bucket (le = "less or equal")
    registry = CollectorRegistry()
    histogram = Histogram("x_seconds", "x", buckets=bounds, registry=registry)
    for value in samples:
        histogram.observe(value)
    from_client = histogram_buckets(parse_metrics(generate_latest(registry).decode()), "x_seconds")
    assert cumulative_buckets(samples, bounds) == from_client


def test_cumulative_buckets_rejects_unsorted_bounds():
    with pytest.raises(ValueError, match="increase"):
        cumulative_buckets([1.0], [0.5, 0.1])


def test_fraction_at_most_is_exact_on_a_bound_and_interpolated_between():
    buckets = {0.1: 20, 0.3: 90, 1.0: 99, INF: 100}
    assert fraction_at_most(buckets, 0.3) == 0.9
    assert fraction_at_most(buckets, 0.2) == pytest.approx(0.55)
    assert fraction_at_most(buckets, 5.0) == 0.99
    assert math.isnan(fraction_at_most({0.1: 0, INF: 0}, 0.1))


def test_bucket_estimates_stay_inside_the_true_quantiles_bucket():
    rng = np.random.default_rng(11)
    samples = rng.lognormal(np.log(0.08), 0.6, 20_000)
    bounds = (0.025, 0.05, 0.1, 0.2, 0.4, 0.8)
    buckets = cumulative_buckets(samples, bounds)
    for q in (0.5, 0.9, 0.95, 0.99):
        true = np.quantile(samples, q)
        edges = (0.0, *bounds)
        i = int(np.searchsorted(bounds, true))
        assert edges[i] <= histogram_quantile(q, buckets) <= bounds[i]


# --- RED metrics middleware ------------------------------------------------------------------


def _shop() -> FastAPI:
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def order(order_id: int):
        if order_id == 13:
            raise RuntimeError("unlucky")
        if order_id > 100:
            raise HTTPException(404)
        return {"id": order_id}

    @app.post("/orders")
    async def create():
        return {"ok": True}

    return app


def test_red_metrics_count_by_route_template_and_status():
    app = _shop()
    metrics = instrument_app(app)
    with TestClient(app, raise_server_exceptions=False) as client:
        for i in range(1, 51):
            client.get(f"/orders/{i}")
        for i in range(101, 106):
            client.get(f"/orders/{i}")
        client.get("/orders/13")
        client.post("/orders")
        client.get("/nowhere/at/all")
        text = client.get("/metrics").text
    families = parse_metrics(text)
    counts = {
        (dict(k)["method"], dict(k)["route"], dict(k)["status"]): v
        for k, v in sample_values(families, "http_requests_total").items()
    }
    assert counts == {
        ("GET", "/orders/{order_id}", "200"): 49,
        ("GET", "/orders/{order_id}", "500"): 2,  # 13 twice: once in the loop, once alone
        ("GET", "/orders/{order_id}", "404"): 5,
        ("POST", "/orders", "200"): 1,
        ("GET", UNMATCHED_ROUTE, "404"): 1,
    }, "one series per route template and status; /metrics itself is not counted"
    durations = sample_values(families, "http_request_duration_seconds_count", route="/orders/{order_id}")
    assert sum(durations.values()) == 56
    assert sample_values(families, "http_requests_in_progress") == {
        (("method", "GET"),): 0.0,
        (("method", "POST"),): 0.0,
    }
    assert (
        metrics.registry.get_sample_value(
            "http_requests_total", {"method": "GET", "route": "/orders/{order_id}", "status": "404"}
        )
        == 5
    )


def test_metric_names_follow_prometheus_conventions():
    app = _shop()
    instrument_app(app, namespace="shop")
    with TestClient(app) as client:
        client.get("/orders/1")
        text = client.get("/metrics").text
    assert "# TYPE shop_http_requests_total counter" in text
    assert "# TYPE shop_http_request_duration_seconds histogram" in text
    assert 'le="+Inf"' in text and "shop_http_request_duration_seconds_sum" in text
    assert "text/plain" in TestClient(app).get("/metrics").headers["content-type"]


def test_route_template_of_a_mounted_app():
    inner = FastAPI()

    @inner.get("/items/{item_id}")
    async def item(item_id: int):
        return {"id": item_id}

    outer = FastAPI()
    outer.mount("/api", inner)
    metrics = instrument_app(outer)
    with TestClient(outer) as client:
        assert client.get("/api/items/3").status_code == 200
    assert (
        metrics.registry.get_sample_value(
            "http_requests_total", {"method": "GET", "route": "/api/items/{item_id}", "status": "200"}
        )
        == 1
    )
    assert route_template({}) == UNMATCHED_ROUTE


# --- request ids and JSON logs -----------------------------------------------------------------


def _logging_app() -> FastAPI:
    app = FastAPI()
    log = logging.getLogger("course.test.requests")

    @app.get("/work/{n}")
    async def work(n: int):
        for step in range(3):
            log.info("step", extra={"step": step, "n": n})
            await asyncio.sleep(0.002 * ((n + step) % 3))  # interleave concurrent requests
        return {"n": n}

    @app.get("/sync")
    def sync_handler():  # runs in a worker thread: the context must follow it
        log.info("in a thread")
        return {}

    app.add_middleware(RequestIdMiddleware)
    return app


def test_every_log_line_carries_its_requests_id_under_concurrency():
    app = _logging_app()
    with capture_logs("course.test.requests") as lines, serve_in_thread(app) as server:

        async def many():
            async with httpx.AsyncClient(base_url=server.url) as client:
                return await asyncio.gather(*(client.get(f"/work/{n}") for n in range(20)))

        responses = asyncio.run(many())
        sync = httpx.get(server.url + "/sync")
    ids = {r.json()["n"]: r.headers["x-request-id"] for r in responses}
    assert len(set(ids.values())) == 20, "each request gets its own id"
    work_lines = [line for line in lines if line["message"] == "step"]
    assert len(work_lines) == 60
    assert all(line["request_id"] == ids[line["n"]] for line in work_lines)
    [thread_line] = [line for line in lines if line["message"] == "in a thread"]
    assert thread_line["request_id"] == sync.headers["x-request-id"]
    assert request_id_var.get() == "-", "the id is reset after each request"


def test_a_valid_incoming_request_id_is_kept_and_a_bad_one_replaced():
    client = TestClient(_logging_app())
    assert client.get("/sync", headers={"X-Request-ID": "lb-42.a"}).headers["x-request-id"] == "lb-42.a"
    replaced = client.get("/sync", headers={"X-Request-ID": 'evil" value'}).headers["x-request-id"]
    assert replaced != 'evil" value' and len(replaced) == 32


def test_json_formatter_fields():
    record = logging.LogRecord("course.x", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    record.book_id = 7
    token = request_id_var.set("r1")
    try:
        line = JsonFormatter().to_dict(record)
    finally:
        request_id_var.reset(token)
    assert line["message"] == "hello you" and line["level"] == "WARNING" and line["logger"] == "course.x"
    assert line["request_id"] == "r1" and line["book_id"] == 7 and "trace_id" not in line


# --- tracing ---------------------------------------------------------------------------------------


def test_server_spans_are_named_by_route_and_parent_the_handlers_spans():
    observed = observe_app(lambda: create_sample_app(db_latency=0.0))
    with capture_logs(SAMPLE_LOGGER) as lines, TestClient(observed.app) as client:
        response = client.get("/books/5")
        client.get("/books/99999")
    table = spans_table(observed.spans.get_finished_spans())
    assert table["trace_id"].nunique() == 2
    assert table[table["depth"] == 0]["name"].tolist() == ["GET /books/{book_id}"] * 2
    assert table["depth"].max() == 1
    ok_trace = next(t for t, rows in table.groupby("trace_id") if len(rows) == 4)
    names = table[table["trace_id"] == ok_trace].sort_values("start_ms")["name"].tolist()
    assert names == ["GET /books/{book_id}", "db.select book", "db.select author", "render"]
    request_lines = [line for line in lines if line["request_id"] == response.headers["x-request-id"]]
    assert {line["trace_id"] for line in request_lines} == {ok_trace}, "log lines carry the trace id"


def test_error_responses_mark_the_span_as_error_and_waterfall_draws():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    provider, exporter = make_tracer_provider()
    app = _shop()
    instrument_tracing(app, provider)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.get("/orders/13")
    table = spans_table(exporter.get_finished_spans())
    assert table.iloc[0]["status"] == "ERROR" and table.iloc[0]["name"] == "GET /orders/{order_id}"
    fig, ax = plt.subplots()
    plot_span_waterfall(ax, table)
    assert len(ax.patches) == 1
    plt.close(fig)
    two_traces = pd.concat([table, table.assign(trace_id="another")])
    with pytest.raises(ValueError, match="one trace"):
        plot_span_waterfall(ax, two_traces)


# --- health checks ------------------------------------------------------------------------------


def test_liveness_ignores_dependencies_and_readiness_reports_them():
    def database():
        raise ConnectionError("refused")

    app = FastAPI()
    app.include_router(health_router(HealthChecker({"database": database, "cache": lambda: None})))
    client = TestClient(app)
    assert client.get("/health/live").status_code == 200
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not ready"
    assert body["dependencies"]["cache"]["ok"] is True
    assert body["dependencies"]["database"]["error"] == "ConnectionError: refused"


def test_a_timeout_bounds_a_hanging_dependency():
    release = threading.Event()

    def hanging():
        release.wait(5)

    async def hanging_async():
        await asyncio.sleep(5)

    checker = HealthChecker({"sync": hanging, "async": hanging_async}, timeout=0.05, cache_seconds=0)

    async def probe():
        start = time.perf_counter()
        try:
            report = await checker.readiness()
        finally:
            release.set()  # let the abandoned worker thread finish, or asyncio.run() waits for it
        return report, time.perf_counter() - start

    report, elapsed = asyncio.run(probe())
    assert not report.ok
    assert report.dependencies["sync"].error == "no answer within 0.05 s"
    assert report.dependencies["async"].error == "no answer within 0.05 s"
    assert elapsed < 2.5, "the checks run concurrently and give up at their timeout, far before 5 s"


def test_readiness_is_cached_and_concurrent_probes_share_one_run():
    calls = []
    now = [100.0]

    async def database():
        calls.append(1)
        await asyncio.sleep(0.01)

    checker = HealthChecker({"database": database}, cache_seconds=5, clock=lambda: now[0])

    async def probes(n):
        return await asyncio.gather(*(checker.readiness() for _ in range(n)))

    reports = asyncio.run(probes(10))
    assert len(calls) == 1 and checker.runs == 1
    assert [r.cached for r in reports].count(False) == 1
    now[0] += 4.9
    asyncio.run(checker.readiness())
    assert len(calls) == 1, "still fresh"
    now[0] += 0.2
    asyncio.run(checker.readiness())
    assert len(calls) == 2, "expired after cache_seconds"


# --- alerts ----------------------------------------------------------------------------------------


def test_window_error_ratio_matches_a_plain_loop():
    rng = np.random.default_rng(1)
    requests = rng.poisson(50, 200)
    errors = rng.binomial(requests, 0.05)
    ratio = alerts.window_error_ratio(requests, errors, 7)
    for t in (0, 3, 6, 7, 100, 199):
        lo = max(0, t - 6)
        assert ratio[t] == pytest.approx(errors[lo : t + 1].sum() / requests[lo : t + 1].sum())
    assert alerts.window_error_ratio(np.zeros(3), np.zeros(3), 2).tolist() == [0, 0, 0]


def _incident_timeline(seed=4):
    incidents = [alerts.Incident(2 * 1440, 20, 0.3, "outage"), alerts.Incident(5 * 1440, 600, 0.009, "slow burn")]
    blips = [alerts.Incident(d * 1440 + 500, 3, 0.1) for d in (1, 3, 6)]
    return alerts.simulate_timeline(7, incidents=incidents, blips=blips, seed=seed)


def test_multiwindow_burn_rate_catches_fast_and_slow_burns_without_false_alarms():
    timeline = _incident_timeline()
    firing = alerts.multiwindow_burn_rate_alert(timeline.requests, timeline.errors, slo=0.999)
    score = alerts.score_alert(firing, timeline)
    assert score.detected == [True, True] and score.false_alarms == 0
    assert score.detection_minutes[0] <= 5, "a 30% error ratio pages within minutes"
    static = alerts.score_alert(alerts.static_threshold_alert(timeline.requests, timeline.errors), timeline)
    assert static.false_alarms >= 3, "a 1% / 5 min static threshold pages on every blip"


def test_single_window_alert_keeps_firing_after_the_incident():
    timeline = _incident_timeline()
    single = alerts.burn_rate_alert(timeline.requests, timeline.errors, slo=0.999, factor=14.4, window_minutes=60)
    multi = alerts.multiwindow_burn_rate_alert(
        timeline.requests, timeline.errors, slo=0.999, rules=alerts.SRE_WORKBOOK_PAGE_RULES[:1]
    )
    reset_single = alerts.score_alert(single, timeline).reset_minutes[0]
    reset_multi = alerts.score_alert(multi, timeline).reset_minutes[0]
    assert reset_multi <= 5 < reset_single


def test_score_alert_counts_episodes():
    timeline = alerts.Timeline(np.ones(100, int), np.zeros(100, int), (alerts.Incident(10, 10, 1.0),))
    firing = np.zeros(100, bool)
    firing[12:15] = firing[16:18] = firing[60:62] = True
    score = alerts.score_alert(firing, timeline, grace=30)
    assert score.detected == [True] and score.detection_minutes == [2.0] and score.false_alarms == 1
    assert score.episodes == [(12, 15), (16, 18), (60, 62)] and score.minutes_firing == 7


def test_budget_spent_of_a_full_outage():
    timeline = alerts.simulate_timeline(
        30,
        requests_per_minute=100,
        base_error_ratio=0.0,
        daily_swing=0,
        incidents=[alerts.Incident(1000, 43, 1.0)],
        seed=2,
    )
    # 43 minutes of 100% errors is 1/1000 of 30 days: the whole budget of a 99.9% SLO
    assert alerts.budget_spent(timeline, timeline.incidents[0], slo=0.999) == pytest.approx(1.0, rel=0.05)


def test_prometheus_rules_yaml_structure():
    import yaml

    document = yaml.safe_load(alerts.prometheus_rules(0.999, static_threshold=0.01))
    rules = document["groups"][0]["rules"]
    records = [r["record"] for r in rules if "record" in r]
    assert records == [f"job:slo_errors_per_request:ratio_rate{w}" for w in ("5m", "30m", "1h", "6h")]
    fast = next(r for r in rules if r.get("alert") == "ErrorBudgetBurn1H")
    assert "ratio_rate1h" in fast["expr"] and "ratio_rate5m" in fast["expr"] and "(14.4 * 0.001)" in fast["expr"]
    assert fast["labels"] == {"severity": "page"}
    assert [r["alert"] for r in rules if "alert" in r] == ["ErrorBudgetBurn1H", "ErrorBudgetBurn6H", "HighErrorRatio"]


# --- the observed apps: faults, SQL spans, the bookstore -------------------------------------------


def test_fault_injection_fails_the_requested_share_but_not_metrics_or_health():
    faults = Faults(error_ratio=1.0)
    observed = observe_app(create_sample_app, faults=faults)
    with serve_in_thread(observed.app) as server, httpx.Client(base_url=server.url) as client:
        assert [client.get("/books/1").status_code for _ in range(3)] == [500] * 3
        assert client.get("/health/live").status_code == 200 and client.get("/metrics").status_code == 200
        faults.set(error_ratio=0.0)
        assert client.get("/books/1").status_code == 200
    with pytest.raises(AttributeError, match="slow_ratio"):
        faults.set(error_rate=0.5)
    assert FaultInjectionMiddleware  # exported for apps built by hand


def test_instrument_engine_traces_statements_logs_slow_ones_and_can_be_removed():
    from sqlalchemy import create_engine, text

    engine = create_engine("sqlite://")
    provider, exporter = make_tracer_provider()
    faults = Faults(slow_ratio=1.0, slow_latency=0.03)
    remove = instrument_engine(engine, provider, faults=faults, slow_query_ms=20)
    tracer = provider.get_tracer("test")
    with capture_logs(SQL_LOGGER) as lines, tracer.start_as_current_span("request"), engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    table = spans_table(exporter.get_finished_spans())
    assert table["name"].tolist() == ["request", "SELECT"] and table["depth"].tolist() == [0, 1]
    assert table.iloc[1]["attributes"]["db.system"] == "sqlite"
    assert [line["message"] for line in lines] == ["slow query"] and lines[0]["duration_ms"] >= 20
    remove()
    exporter.clear()
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    assert exporter.get_finished_spans() == ()


def test_observed_bookstore_serves_traces_and_logs_the_module_03_app():
    with observed_bookstore(seed=2) as observed, capture_logs(ACCESS_LOGGER) as lines:
        with serve_in_thread(observed.app) as server, httpx.Client(base_url=server.url) as client:
            response = client.get("/authors/1")
            assert client.get("/health/ready").json()["dependencies"]["database"]["ok"] is True
        table = spans_table(observed.spans.get_finished_spans())
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    [line] = [line for line in lines if line["request_id"] == request_id]
    assert line["route"] == "/authors/{author_id}" and line["status"] == 200
    trace = table[table["trace_id"] == line["trace_id"]]
    assert trace.iloc[0]["name"] == "GET /authors/{author_id}" and (trace["depth"] == 1).sum() >= 2


def test_gc_helpers_restore_the_collector():
    import gc

    with frozen_gc() as frozen, gc_pauses() as pauses:
        assert frozen > 0 and gc.get_freeze_count() > 0
        gc.collect()
    assert gc.get_freeze_count() == 0
    assert pauses and all(seconds >= 0 for _, _, seconds in pauses)


def test_lesson_app_port_is_fixed_only_with_a_real_prometheus():
    assert lesson_app_port({}) == 0
    assert lesson_app_port({"COURSE_PROMETHEUS_URL": "http://127.0.0.1:9090"}) == DEFAULT_APP_PORT
    assert lesson_app_port({"COURSE_PROMETHEUS_URL": "http://x", "COURSE_APP_PORT": "9123"}) == 9123
    with pytest.raises(ValueError, match="not a port"):
        lesson_app_port({"COURSE_PROMETHEUS_URL": "http://x", "COURSE_APP_PORT": "http"})
    assert instance_selector(8700) == 'instance=~"(127.0.0.1|localhost):8700"'


# --- server and load -------------------------------------------------------------------------------


def test_serve_in_thread_stops_the_server_also_when_the_body_raises():
    before = threading.active_count()
    with pytest.raises(KeyError):
        with serve_in_thread(_shop()) as server:
            assert httpx.get(server.url + "/orders/1").status_code == 200
            port = server.port
            raise KeyError("boom")
    assert not server.thread.is_alive() and threading.active_count() == before
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "nothing listens on the port any more"


def test_serve_in_thread_refuses_other_addresses_and_reports_a_taken_port():
    with pytest.raises(ValueError, match="loopback"):
        with serve_in_thread(_shop(), host="0.0.0.0"):
            pass
    with serve_in_thread(_shop()) as server:
        with pytest.raises(RuntimeError, match="cannot listen"):
            with serve_in_thread(_shop(), port=server.port):
                pass


def test_load_run_counts_agree_with_the_scraped_metrics():
    faults = Faults(seed=3)
    observed = observe_app(lambda: create_sample_app(faults))
    with serve_in_thread(observed.app) as server, scraping(server.url + "/metrics", 0.1) as scraper:
        records = run_load(
            server.url, [Phase("ok", 0.6), Phase("bad", 0.6, lambda: faults.set(error_ratio=0.5))], clients=2, seed=1
        )
    final = scraper.samples[-1][1]
    served = sum(v for (name, _), v in final.items() if name == "http_requests_total")
    assert served == len(records) > 20
    errors_client = int((records["status"] == 500).sum())
    errors_server = sum(
        v for (name, labels), v in final.items() if name == "http_requests_total" and dict(labels)["status"] == "500"
    )
    assert errors_client == errors_server
    error_share = records.assign(error=records["status"] == 500).groupby("phase")["error"].mean()
    assert error_share["bad"] > 0.2 > error_share["ok"]
    assert records["request_id"].str.len().eq(32).all()
    signals = golden_signals(scraper, window=0.3)
    assert {"traffic_rps", "error_ratio", "p50_s", "p95_s", "p99_s", "in_progress"} <= set(signals.columns)
    assert signals["traffic_rps"].gt(0).any()
    assert len(client_signals(records, window=0.3)) > 0


def test_the_scraper_stamps_each_sample_with_the_time_its_scrape_began():
    """As Prometheus does: the stamp comes before the page is served, never after it is parsed."""
    served_at = []
    app = FastAPI()

    @app.get("/metrics")
    def metrics():
        served_at.append(time.perf_counter())
        return PlainTextResponse(f"x_total {len(served_at)}\n")

    with serve_in_thread(app) as server, scraping(server.url + "/metrics", interval=60) as scraper:
        deadline = time.monotonic() + 10
        while not scraper.samples and time.monotonic() < deadline:  # the thread's first scrape
            time.sleep(0.01)
    # ... and a last one as it stops
    assert len(scraper.samples) == len(served_at) == 2
    for (stamped, _), served in zip(scraper.samples, served_at):
        assert stamped < served
    assert [flat[("x_total", ())] for _, flat in scraper.samples] == [1.0, 2.0]


def test_load_driver_only_targets_this_machine():
    with pytest.raises(ValueError, match="127.0.0.1"):
        run_load("http://example.com", [Phase("x", 0.1)])


# --- a real Prometheus server (CI installs Debian's package) ---------------------------------------


def _required_binary(name: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    skip_or_fail(f"{name} is not installed (apt-get install prometheus) to compare with a real server")


#: Hand-made buckets that exercise every rule of histogram_quantile, served as exposition text.
EDGE_CASES = {
    "simple": {"0.1": 10, "0.5": 30, "1": 40, "+Inf": 40},
    "tail": {"0.1": 10, "+Inf": 100},
    "empty": {"0.1": 0, "1": 0, "+Inf": 0},
    "no_inf": {"0.1": 1, "1": 5},
    "only_inf": {"+Inf": 7},
    "non_monotonic": {"0.1": 5, "0.2": 3, "0.4": 9, "+Inf": 10},
    "negative": {"-1": 2, "0": 4, "1": 10, "+Inf": 10},
    "empty_first": {"0.1": 0, "0.2": 5, "+Inf": 5},
    "scientific": {"1e-3": 3, "2.5e-2": 8, "+Inf": 9},
    "duplicate_bound": {"0.1": 4, "0.10": 2, "1": 8, "+Inf": 9},
    "zero_in_inf": {"0.5": 3, "+Inf": 0},
}
QUANTILES = (0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0, -0.5, 1.5)


def _edge_case_app() -> FastAPI:
    text = "".join(
        f'edge_{name}_bucket{{le="{le}"}} {count}\n'
        for name, buckets in EDGE_CASES.items()
        for le, count in buckets.items()
    )
    app = FastAPI()

    @app.get("/metrics")
    def metrics():
        return PlainTextResponse(text)

    return app


@pytest.fixture(scope="module")
def real_prometheus():
    """Prometheus on 127.0.0.1 scraping, every 200 ms, the sample app (after a seeded load
    run, so its counters no longer change) and an app serving the hand-made edge cases."""
    _required_binary("prometheus")
    faults = Faults(seed=7, slow_ratio=0.2, slow_latency=0.03, error_ratio=0.05)
    observed = observe_app(lambda: create_sample_app(faults))
    with serve_in_thread(observed.app) as app_server, serve_in_thread(_edge_case_app()) as edge_server:
        records = run_load(app_server.url, [Phase("load", 1.5)], clients=2, seed=7)
        rules = alerts.prometheus_rules(0.999, static_threshold=0.01)
        config = scrape_config(
            [f"127.0.0.1:{app_server.port}", f"127.0.0.1:{edge_server.port}"],
            scrape_interval="200ms",
            rule_files=["rules.yml"],
        )
        with run_prometheus(config, files={"rules.yml": rules}) as prometheus:
            app_target = f'instance="127.0.0.1:{app_server.port}"'
            expected = len(records)
            prometheus.api.wait_until(
                lambda: (
                    prometheus.api.value(f"sum(http_requests_total{{{app_target}}})") == expected
                    and prometheus.api.value(f'count(up{{instance="127.0.0.1:{edge_server.port}"}} == 1)') == 1
                ),
                timeout=30,
                what="two scrapes of the apps",
            )
            time.sleep(1.0)  # a few more scrapes, so rate() over 1s has samples
            yield {"api": prometheus.api, "app_target": app_target, "app_url": app_server.url, "records": records}


@pytest.mark.services
def test_real_prometheus_agrees_on_every_edge_case(real_prometheus):
    api: PrometheusAPI = real_prometheus["api"]
    compared = 0
    for name, buckets in EDGE_CASES.items():
        for q in QUANTILES:
            result = api.query(f"histogram_quantile({q!r}, edge_{name}_bucket)")
            assert len(result) == 1, f"{name}: the server returned {result}"
            server, ours = result[0]["value"], histogram_quantile(q, buckets)
            assert same(server, ours), f"{name}, q={q}: Prometheus {server}, course_lib {ours}"
            compared += 1
    assert compared == len(EDGE_CASES) * len(QUANTILES)


@pytest.mark.services
def test_real_prometheus_agrees_on_the_scraped_app_histogram(real_prometheus):
    api, target = real_prometheus["api"], real_prometheus["app_target"]
    text = httpx.get(real_prometheus["app_url"] + "/metrics").text
    ours_buckets = histogram_buckets(parse_metrics(text), "http_request_duration_seconds")
    for q in (0.5, 0.9, 0.95, 0.99):
        server = api.value(f"histogram_quantile({q}, sum by (le) (http_request_duration_seconds_bucket{{{target}}}))")
        assert same(server, histogram_quantile(q, ours_buckets)), q
    # the same on rate(): take the server's own bucket rates and compare at one evaluation time
    at = time.time()
    expr = f"sum by (le) (rate(http_request_duration_seconds_bucket{{{target}}}[1m]))"
    rates = {row["metric"]["le"]: row["value"] for row in api.query(expr, at)}
    assert len(rates) == 17
    for q in (0.5, 0.95, 0.99):
        assert same(api.value(f"histogram_quantile({q}, {expr})", at), histogram_quantile(q, rates)), q
    statuses = {
        row["metric"]["status"]: row["value"] for row in api.query(f"sum by (status) (http_requests_total{{{target}}})")
    }
    records = real_prometheus["records"]
    assert statuses == {str(s): float(n) for s, n in records["status"].value_counts().items()}


@pytest.mark.services
def test_range_queries_give_one_column_per_query(real_prometheus):
    api, target = real_prometheus["api"], real_prometheus["app_target"]
    end = time.time()
    table = range_signals(
        api, {"up": f"sum(up{{{target}}})", "requests": f"sum(http_requests_total{{{target}}})"}, end - 2, end, step=0.5
    )
    assert list(table.columns) == ["t", "up", "requests"] and len(table) >= 3
    assert table["up"].iloc[-1] == 1 and table["requests"].iloc[-1] == len(real_prometheus["records"])


@pytest.mark.services
def test_promtool_accepts_the_emitted_rules_and_the_server_loads_them(real_prometheus, tmp_path):
    promtool = _required_binary("promtool")
    path = tmp_path / "rules.yml"
    path.write_text(alerts.prometheus_rules(0.999, static_threshold=0.01))
    run = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "SUCCESS: 7 rules found" in run.stdout, run.stdout + run.stderr
    groups = real_prometheus["api"]._get("/api/v1/rules", {})["groups"]
    loaded = [rule for group in groups for rule in group["rules"]]
    assert len(loaded) == 7 and all(rule["health"] in ("ok", "unknown") for rule in loaded), loaded


@pytest.mark.services
def test_the_configured_prometheus_scrapes_the_lessons_app_port():
    """The server named by COURSE_PROMETHEUS_URL (CI starts one) must have the lesson's app
    port as a scrape target, or lesson 05's PromQL section waits for scrapes that never come."""
    url = required_url("COURSE_PROMETHEUS_URL")
    from course_lib.backends import describe_backends

    row = describe_backends(check=True)[2]
    assert (row.name, row.kind, row.ok) == ("prometheus", "real", True), row
    port = lesson_app_port()
    api = PrometheusAPI(url)
    wanted = (f"127.0.0.1:{port}", f"localhost:{port}")
    try:  # a server that has just started lists its targets after its first discovery round
        api.wait_until(
            lambda: any(
                t["labels"].get("instance") in wanted for t in api._get("/api/v1/targets", {})["activeTargets"]
            ),
            timeout=15,
        )
    except PrometheusError:
        pass  # the assertion below says what is wrong
    targets = api._get("/api/v1/targets", {})["activeTargets"]
    instances = [t["labels"].get("instance", "") for t in targets]
    assert any(i in wanted for i in instances), (
        f"{url} scrapes {instances}, not 127.0.0.1:{port} (COURSE_APP_PORT); add that target to its configuration"
    )
    intervals = [t.get("scrapeInterval", "") for t in targets if t["labels"].get("instance", "").endswith(f":{port}")]
    assert all(i in ("1s", "500ms", "250ms", "200ms", "100ms") for i in intervals), (
        f"the lesson needs a scrape interval of 1 s or less for its target, got {intervals}"
    )


def test_run_prometheus_explains_a_missing_binary():
    with pytest.raises(FileNotFoundError, match="apt-get install prometheus"):
        with run_prometheus("", binary="no-such-prometheus-binary"):
            pass


def test_free_port_is_on_loopback():
    assert 0 < free_port() < 65536
