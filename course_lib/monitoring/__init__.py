"""Module 05, monitoring and APM: metrics, logs, traces, health checks, SLO alerts.

One small module per idea; the names most lessons need are importable from here:

- :mod:`~course_lib.monitoring.metrics`: RED metrics middleware and ``/metrics``;
- :mod:`~course_lib.monitoring.quantiles`: ``histogram_quantile`` as Prometheus computes it;
- :mod:`~course_lib.monitoring.logs`: JSON logs with request ids (contextvars);
- :mod:`~course_lib.monitoring.tracing`: OpenTelemetry spans, a span table and waterfall;
- :mod:`~course_lib.monitoring.health`: liveness/readiness with timeouts and a cache;
- :mod:`~course_lib.monitoring.alerts`: error budgets, burn-rate alerts, Prometheus rules;
- :mod:`~course_lib.monitoring.server`: uvicorn in a background thread (a context manager);
- :mod:`~course_lib.monitoring.load`: a load driver, an in-process scraper, golden signals;
- :mod:`~course_lib.monitoring.promql`: a real Prometheus server's HTTP API, and starting one;
- :mod:`~course_lib.monitoring.apps`: ``observe_app`` for any app factory, the observed bookstore.
"""

from course_lib.monitoring.alerts import (
    SRE_WORKBOOK_PAGE_RULES,
    BurnRateRule,
    Incident,
    Timeline,
    multiwindow_burn_rate_alert,
    prometheus_rules,
    score_alert,
    simulate_timeline,
    static_threshold_alert,
    window_error_ratio,
)
from course_lib.monitoring.health import HealthChecker, health_router
from course_lib.monitoring.logs import JsonFormatter, RequestIdMiddleware, capture_logs, request_id_var
from course_lib.monitoring.metrics import (
    LATENCY_BUCKETS,
    RedMetrics,
    RedMetricsMiddleware,
    instrument_app,
    parse_metrics,
    sample_values,
)
from course_lib.monitoring.quantiles import cumulative_buckets, fraction_at_most, histogram_quantile
from course_lib.monitoring.server import serve_in_thread
from course_lib.monitoring.tracing import make_tracer_provider, plot_span_waterfall, spans_table

__all__ = [
    "LATENCY_BUCKETS",
    "SRE_WORKBOOK_PAGE_RULES",
    "BurnRateRule",
    "HealthChecker",
    "Incident",
    "JsonFormatter",
    "RedMetrics",
    "RedMetricsMiddleware",
    "RequestIdMiddleware",
    "Timeline",
    "capture_logs",
    "cumulative_buckets",
    "fraction_at_most",
    "health_router",
    "histogram_quantile",
    "instrument_app",
    "make_tracer_provider",
    "multiwindow_burn_rate_alert",
    "parse_metrics",
    "plot_span_waterfall",
    "prometheus_rules",
    "request_id_var",
    "sample_values",
    "score_alert",
    "serve_in_thread",
    "simulate_timeline",
    "spans_table",
    "static_threshold_alert",
    "window_error_ratio",
]
