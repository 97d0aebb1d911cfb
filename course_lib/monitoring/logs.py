"""Structured JSON logs in which every line of a request carries that request's id.

Three small pieces:

- :data:`request_id_var`, a :class:`contextvars.ContextVar`. asyncio gives every task its
  own copy of the context, and Starlette copies it into the threads that run synchronous
  endpoints, so concurrent requests never see each other's id (a global variable would);
- :class:`RequestIdMiddleware` (ASGI): takes the client's ``X-Request-ID`` header when it is
  a sensible id, or makes a new one, sets the variable for the duration of the request, and
  returns the id in the response's ``X-Request-ID`` header;
- :class:`AccessLogMiddleware`: one line per request (route, status, duration);
- :class:`JsonFormatter`: one JSON object per line with the time, level, logger, message,
  the request id, the current OpenTelemetry trace and span ids (when a span is active), and
  any ``extra={...}`` fields.

:func:`capture_logs` collects a logger's records as dicts, for notebooks and tests::

    >>> import logging
    >>> log = logging.getLogger("course.example")
    >>> with capture_logs("course.example") as lines:
    ...     token = request_id_var.set("abc123")
    ...     log.info("hello", extra={"book_id": 7})
    ...     request_id_var.reset(token)
    >>> lines[0]["message"], lines[0]["request_id"], lines[0]["book_id"]
    ('hello', 'abc123', 7)
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "REQUEST_ID_HEADER",
    "request_id_var",
    "RequestIdMiddleware",
    "AccessLogMiddleware",
    "JsonFormatter",
    "RequestIdFilter",
    "capture_logs",
]

REQUEST_ID_HEADER = "x-request-id"
#: The id of the request being handled in the current context ("-" outside a request).
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

# A library adds no handler of its own but a NullHandler (Python's logging HOWTO, "Configuring
# logging for a library"): without it, warnings from the course's loggers would be printed
# to stderr by logging's last-resort handler whenever nothing else is attached.
logging.getLogger("course").addHandler(logging.NullHandler())

#: A client-supplied id is used only if it looks like an id: short, no spaces or quotes.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

# Attributes every LogRecord has; everything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id"}


class RequestIdMiddleware:
    """ASGI middleware: a request id per request, in a context variable and a response header.

    ``trust_incoming`` (default True) reuses a well-formed ``X-Request-ID`` from the client
    (a load balancer or another service may already have set one, which joins the logs of
    both); otherwise, and for malformed values, a new random id (32 hex digits) is made.
    """

    def __init__(self, app: Any, *, trust_incoming: bool = True, header: str = REQUEST_ID_HEADER) -> None:
        self.app = app
        self.trust_incoming = trust_incoming
        self.header = header.lower().encode("latin-1")

    def _incoming(self, scope: dict[str, Any]) -> str | None:
        for name, value in scope.get("headers", []):
            if name.lower() == self.header:
                text = value.decode("latin-1")
                return text if _SAFE_ID.fullmatch(text) else None
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = (self.trust_incoming and self._incoming(scope)) or uuid.uuid4().hex

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != self.header]
                message = {**message, "headers": [*headers, (self.header, request_id.encode("latin-1"))]}
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class AccessLogMiddleware:
    """ASGI middleware: one log line per finished request (method, route, status, duration).

    Put it inside :class:`RequestIdMiddleware` (and inside tracing), so that the line
    carries the request id (and trace id) like every other line of the request.
    """

    def __init__(
        self, app: Any, logger: logging.Logger | str = "course.access", *, excluded_paths: Any = ("/metrics",)
    ) -> None:
        self.app = app
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.excluded_paths = frozenset(excluded_paths)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") in self.excluded_paths:
            await self.app(scope, receive, send)
            return
        from course_lib.monitoring.metrics import route_template

        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.logger.log(
                logging.WARNING if status >= 500 else logging.INFO,
                "request finished",
                extra={
                    "method": scope.get("method"),
                    "route": route_template(scope),
                    "path": scope.get("path"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - start) * 1e3, 3),
                },
            )


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (from :data:`request_id_var`) to every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def _trace_ids() -> dict[str, str]:
    try:
        from opentelemetry import trace
    except ImportError:  # tracing is optional for logging
        return {}
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON (see the module docstring for the fields)."""

    def to_dict(self, record: logging.LogRecord) -> dict[str, Any]:
        """The fields of one log line, as a dict (what :meth:`format` serialises)."""
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
            **_trace_ids(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return line

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.to_dict(record), default=str)


class _ListHandler(logging.Handler):
    def __init__(self, lines: list[dict[str, Any]]) -> None:
        super().__init__()
        self.lines = lines
        self.formatter = JsonFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@contextmanager
def capture_logs(*names: str, level: int = logging.INFO) -> Iterator[list[dict[str, Any]]]:
    """Collect the records of the named loggers (and their children) as parsed JSON lines.

    The loggers' levels are set to ``level`` while the block runs and restored afterwards;
    the handler is removed on exit, also when the block raises.
    """
    lines: list[dict[str, Any]] = []
    handler = _ListHandler(lines)
    loggers = [logging.getLogger(name) for name in names or ("",)]
    old_levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(level)
    try:
        yield lines
    finally:
        for logger, old in zip(loggers, old_levels):
            logger.removeHandler(handler)
            logger.setLevel(old)
