"""Tracing with the OpenTelemetry SDK: a server span per request, kept in memory by default.

:func:`make_tracer_provider` builds a ``TracerProvider`` whose finished spans go to an
``InMemorySpanExporter`` (nothing leaves the process); pass another exporter to send them
elsewhere. Nothing here sets OpenTelemetry's global provider: the provider is passed to
:class:`TracingMiddleware`; :func:`instrument_tracing` also stores a tracer on
``app.state.tracer`` for the handlers to create child spans with.

:func:`spans_table` turns finished spans into a pandas table, and :func:`plot_span_waterfall`
draws one trace as a waterfall::

    >>> provider, exporter = make_tracer_provider()
    >>> tracer = provider.get_tracer("example")
    >>> with tracer.start_as_current_span("GET /books/{book_id}"):
    ...     with tracer.start_as_current_span("db.query"):
    ...         pass
    >>> spans_table(exporter.get_finished_spans())[["name", "depth"]].values.tolist()
    [['GET /books/{book_id}', 0], ['db.query', 1]]

Attribute names follow the OpenTelemetry semantic conventions for HTTP servers
(``http.request.method``, ``http.route``, ``http.response.status_code``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from course_lib.monitoring.metrics import route_template

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["make_tracer_provider", "TracingMiddleware", "instrument_tracing", "spans_table", "plot_span_waterfall"]


def make_tracer_provider(
    exporter: SpanExporter | None = None, *, service_name: str = "course-app"
) -> tuple[TracerProvider, SpanExporter]:
    """A ``TracerProvider`` exporting every finished span to ``exporter`` (default: in memory).

    Spans are exported synchronously as they end (``SimpleSpanProcessor``), which suits a
    notebook; a production service would batch them (``BatchSpanProcessor``).
    """
    exporter = exporter if exporter is not None else InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


class TracingMiddleware:
    """ASGI middleware: one SERVER span per HTTP request, named ``"METHOD /route/{template}"``.

    The span is the current span while the app handles the request, so spans the handlers
    start (``app.state.tracer.start_as_current_span(...)``) become its children and
    log lines can carry its trace id. A 5xx response or an exception marks it as an error.
    :func:`instrument_tracing` adds it to an app.
    """

    def __init__(self, app: Any, tracer_provider: TracerProvider, *, excluded_paths: Iterable[str] = ("/metrics",)):
        self.app = app
        self.tracer = tracer_provider.get_tracer("course_lib.monitoring")
        self.excluded_paths = frozenset(excluded_paths)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") in self.excluded_paths:
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET")
        with self.tracer.start_as_current_span(
            method, kind=SpanKind.SERVER, record_exception=True, set_status_on_exception=True
        ) as span:
            span.set_attribute("http.request.method", method)
            span.set_attribute("url.path", scope.get("path", ""))

            async def send_wrapper(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                route = route_template(scope)
                span.set_attribute("http.route", route)
                span.update_name(f"{method} {route}")


def instrument_tracing(app: Any, tracer_provider: TracerProvider) -> Any:
    """Add :class:`TracingMiddleware` to a FastAPI app; the handlers' tracer is ``app.state.tracer``."""
    app.state.tracer = tracer_provider.get_tracer("course_lib.monitoring")
    app.add_middleware(TracingMiddleware, tracer_provider=tracer_provider)
    return app.state.tracer


def spans_table(spans: Iterable[ReadableSpan]) -> pd.DataFrame:
    """Finished spans as a table: ids (hex), parent, name, start/end offsets, duration, depth.

    Times are in milliseconds from the start of the earliest span *of the same trace*; the
    table is sorted by trace and start time, and ``depth`` counts parents (0 for a root).
    """
    import pandas as pd

    rows = []
    for span in spans:
        context = span.get_span_context()
        rows.append(
            {
                "trace_id": f"{context.trace_id:032x}",
                "span_id": f"{context.span_id:016x}",
                "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
                "name": span.name,
                "start_ns": span.start_time,
                "end_ns": span.end_time,
                "status": span.status.status_code.name,
                "attributes": dict(span.attributes or {}),
            }
        )
    table = pd.DataFrame(
        rows, columns=["trace_id", "span_id", "parent_id", "name", "start_ns", "end_ns", "status", "attributes"]
    )
    if table.empty:
        return table.assign(start_ms=[], end_ms=[], duration_ms=[], depth=[])
    first = table.groupby("trace_id")["start_ns"].transform("min")
    table["start_ms"] = (table["start_ns"] - first) / 1e6
    table["end_ms"] = (table["end_ns"] - first) / 1e6
    table["duration_ms"] = table["end_ms"] - table["start_ms"]
    parents = dict(zip(table["span_id"], table["parent_id"]))

    def depth(span_id: str) -> int:
        level, parent = 0, parents.get(span_id)
        while parent in parents:
            level, parent = level + 1, parents[parent]
        return level

    table["depth"] = [depth(s) for s in table["span_id"]]
    return (
        table.sort_values(["trace_id", "start_ns", "depth"]).drop(columns=["start_ns", "end_ns"]).reset_index(drop=True)
    )


def plot_span_waterfall(ax: Axes, table: pd.DataFrame, *, title: str | None = None, rows: int | None = None) -> Axes:
    """Draw the spans of one trace (rows of :func:`spans_table`) as a waterfall on ``ax``.

    One bar per span, in start order from top to bottom, indented by depth; the bar runs
    from the span's start to its end (drawn at least a hair wide, so that sub-millisecond
    spans stay visible), labelled with its duration. Error spans are red. ``rows`` fixes
    the vertical extent, so that two waterfalls drawn side by side share a scale.
    """
    if table["trace_id"].nunique() != 1:
        raise ValueError("plot one trace at a time: filter the table on one trace_id first")
    spans = table.reset_index(drop=True)
    total = float(spans["end_ms"].max()) or 1.0
    many = len(spans) > 25
    for i, span in spans.iterrows():
        color = "tab:red" if span["status"] == "ERROR" else f"C{int(span['depth'])}"
        ax.barh(i, max(span["duration_ms"], total / 250), left=span["start_ms"], color=color, height=0.7)
        ax.text(
            span["end_ms"] + total / 100,
            i,
            f"{span['duration_ms']:.1f} ms",
            va="center",
            fontsize="xx-small" if many else "small",
        )
    ax.set_yticks(
        range(len(spans)),
        ["  " * int(d) + n for d, n in zip(spans["depth"], spans["name"])],
        fontsize="x-small" if many else "medium",
    )
    ax.set_ylim((rows or len(spans)) - 0.5, -0.5)
    ax.set_xlim(0, total * 1.15)
    ax.set(xlabel="time since the request started (ms)", title=title or "Span waterfall of one request")
    return ax
