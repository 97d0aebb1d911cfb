"""Exercise 05 graded for real against answers students write: honest alternatives earn every
check of their task, and each wrong answer (one clause of a task statement ignored) loses the
check that covers that clause.

One notebook carries an answer for each of the four tasks, so that one grading (a few seconds)
judges four answers: two notebooks of honest alternatives, then notebooks whose answers are the
k-th wrong answer of each task (or the reference answer, where a task has fewer wrong ones).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
import pytest

from course_tools.cells import grade_id
from course_tools.grading.runner import Assignment, Limits, grade_submission

ROOT = Path(__file__).resolve().parents[1]
NAME = "05_monitoring_and_apm"

TASKS = {
    "instrument_answer": ("instrument_visible", "instrument_hidden"),
    "quantile_answer": ("quantile_visible", "quantile_hidden"),
    "alert_answer": ("alert_visible", "alert_hidden"),
    "request_id_answer": ("request_id_visible", "request_id_hidden"),
}


def _code(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


# --------------------------------------------------------------------------- task (a): instrument

INSTRUMENT = _code(
    """
    def instrument(app, registry):
        requests = Counter("shop_http_requests_total", "Requests.", ["method", "route", "status"], registry=registry)
        latency = Histogram("shop_http_request_duration_seconds", "Latency.", ["method", "route"], registry=registry,
                            buckets=BUCKETS)

        @app.middleware("http")
        async def red_metrics(request, call_next):
            start = time.perf_counter()
            status = "500"
            try:
                response = await call_next(request)
                status = str(response.status_code)
                return response
            finally:
                route = ROUTE
                requests.labels(request.method, route, status).inc()
                latency.labels(request.method, route).observe(SECONDS)

        @app.get("/metrics")
        async def metrics():
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    """
)


def instrument(
    route: str = 'getattr(request.scope.get("route"), "path", None) or "<unmatched>"',
    seconds: str = "time.perf_counter() - start",
    buckets: str = "(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)",
) -> str:
    return INSTRUMENT.replace("ROUTE", route).replace("SECONDS", seconds).replace("BUCKETS", buckets)


#: A plain ASGI middleware class, added with add_middleware; labels declared in another order,
#: the default buckets, time.monotonic, /metrics left uncounted.
INSTRUMENT_ASGI = _code(
    """
    class RedMetrics:
        def __init__(self, app, requests, latency):
            self.app, self.requests, self.latency = app, requests, latency

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http" or scope["path"] == "/metrics":
                return await self.app(scope, receive, send)
            start, seen = time.monotonic(), {}

            async def send_status(message):
                if message["type"] == "http.response.start":
                    seen["status"] = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, send_status)
            except Exception:
                seen["status"] = 500
                raise
            finally:
                route = scope.get("route")
                template = route.path if route is not None else "<unmatched>"
                labels = {"route": template, "method": scope["method"]}
                self.requests.labels(status=str(seen.get("status", 500)), **labels).inc()
                self.latency.labels(**labels).observe(time.monotonic() - start)


    def instrument(app, registry):
        requests = Counter("shop_http_requests", "Requests.", ["route", "method", "status"], registry=registry)
        latency = Histogram("shop_http_request_duration_seconds", "Latency.", ["route", "method"], registry=registry)
        app.add_middleware(RedMetrics, requests=requests, latency=latency)

        @app.get("/metrics")
        def metrics():
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    """
)

#: BaseHTTPMiddleware subclass; the template found by matching the routes itself (full or partial).
INSTRUMENT_MATCHING = _code(
    """
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.routing import Match


    def instrument(app, registry):
        requests = Counter("shop_http_requests_total", "Requests.", ("method", "route", "status"), registry=registry)
        latency = Histogram("shop_http_request_duration_seconds", "Latency.", ("method", "route"), registry=registry,
                            buckets=[0.05, 0.25, 1, 5])

        def template(scope):
            partial = None
            for route in app.router.routes:
                match, _ = route.matches(scope)
                if match == Match.FULL:
                    return route.path
                if match == Match.PARTIAL and partial is None:
                    partial = route.path
            return partial or "<unmatched>"

        class Red(BaseHTTPMiddleware):
            async def dispatch(self, request, call_next):
                start = time.perf_counter()
                try:
                    response = await call_next(request)
                except Exception:
                    requests.labels(request.method, template(request.scope), "500").inc()
                    latency.labels(request.method, template(request.scope)).observe(time.perf_counter() - start)
                    raise
                requests.labels(request.method, template(request.scope), str(response.status_code)).inc()
                latency.labels(request.method, template(request.scope)).observe(time.perf_counter() - start)
                return response

        app.add_middleware(Red)
        app.add_api_route("/metrics", lambda: Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST))
    """
)

#: Metrics made once and kept at module level: the second app's registry stays empty.
INSTRUMENT_MODULE_LEVEL = _code(
    """
    _made = {}


    def instrument(app, registry):
        if not _made:
            _made["requests"] = Counter("shop_http_requests_total", "Requests.", ["method", "route", "status"],
                                        registry=registry)
            _made["latency"] = Histogram("shop_http_request_duration_seconds", "Latency.", ["method", "route"],
                                         registry=registry)

        @app.middleware("http")
        async def red_metrics(request, call_next):
            start = time.perf_counter()
            status = "500"
            try:
                response = await call_next(request)
                status = str(response.status_code)
                return response
            finally:
                route = getattr(request.scope.get("route"), "path", None) or "<unmatched>"
                _made["requests"].labels(request.method, route, status).inc()
                _made["latency"].labels(request.method, route).observe(time.perf_counter() - start)

        @app.get("/metrics")
        async def metrics():
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    """
)

INSTRUMENT_NO_FINALLY = _code(
    """
    def instrument(app, registry):
        requests = Counter("shop_http_requests_total", "Requests.", ["method", "route", "status"], registry=registry)
        latency = Histogram("shop_http_request_duration_seconds", "Latency.", ["method", "route"], registry=registry)

        @app.middleware("http")
        async def red_metrics(request, call_next):
            start = time.perf_counter()
            response = await call_next(request)
            route = getattr(request.scope.get("route"), "path", None) or "<unmatched>"
            requests.labels(request.method, route, str(response.status_code)).inc()
            latency.labels(request.method, route).observe(time.perf_counter() - start)
            return response

        @app.get("/metrics")
        async def metrics():
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    """
)

INSTRUMENT_WITH_STATUS_LABEL = (
    instrument()
    .replace('["method", "route"], registry', '["method", "route", "status"], registry')
    .replace("latency.labels(request.method, route)", "latency.labels(request.method, route, status)")
)

INSTRUMENT_FULL_MATCH_ONLY = INSTRUMENT_MATCHING.replace(
    "if match == Match.PARTIAL and partial is None:\n                partial = route.path",
    "if False:\n                partial = route.path",
)

# --------------------------------------------------------------------------- task (b): bucket_quantile

QUANTILE_BISECT = _code(
    """
    import bisect


    def bucket_quantile(q, buckets):
        bounds = [b for b, _ in buckets]
        counts = [c for _, c in buckets]
        if len(buckets) < 2 or counts[-1] == 0:
            return float("nan")
        rank = q * counts[-1]
        i = bisect.bisect_left(counts, rank)
        if i >= len(buckets) - 1:
            return bounds[-2]
        lower = bounds[i - 1] if i else 0
        below = counts[i - 1] if i else 0
        inside = counts[i] - below
        if inside == 0:
            return float("nan")
        return lower + (bounds[i] - lower) * (rank - below) / inside
    """
)

QUANTILE_NUMPY = _code(
    """
    def bucket_quantile(q, buckets):
        table = np.array(buckets, dtype=float)
        bounds, counts = table[:, 0], table[:, 1]
        if len(table) == 1 or counts[-1] == 0:
            return np.nan
        rank = q * counts[-1]
        i = int(np.searchsorted(counts, rank, side="left"))
        if np.isinf(bounds[i]):
            return bounds[-2]
        lower, below = (bounds[i - 1], counts[i - 1]) if i > 0 else (0.0, 0.0)
        with np.errstate(invalid="ignore"):
            return lower + (bounds[i] - lower) * np.float64(rank - below) / (counts[i] - below)
    """
)

QUANTILE = _code(
    """
    def bucket_quantile(q, buckets):
        total = buckets[-1][1]
        if total == 0 or len(buckets) < 2:
            return math.nan
        rank = q * total
        for i, (upper, count) in enumerate(buckets):
            if count COMPARE rank:
                break
        if math.isinf(upper):
            return INF_ANSWER
        lower, below = (0.0, 0.0) if i == 0 else buckets[i - 1]
        if EMPTY:
            return math.nan
        return lower + (upper - lower) * (rank - below) / (count - below)
    """
)


def quantile(compare: str = ">=", inf_answer: str = "buckets[-2][0]", empty: str = "count == below") -> str:
    return QUANTILE.replace("COMPARE", compare).replace("INF_ANSWER", inf_answer).replace("EMPTY", empty)


QUANTILE_LONE_INF_FAILS = quantile().replace("if total == 0 or len(buckets) < 2:", "if total == 0:")
QUANTILE_NO_NAN_FOR_EMPTY = quantile(empty="False")
QUANTILE_POPS_INF = quantile().replace("total = buckets[-1][1]", "total = buckets.pop()[1]")
QUANTILE_FORBIDDEN = _code(
    """
    import course_lib.monitoring.quantiles as _quantiles

    _reference = _quantiles.histogram_quantile  # taken before any check can spy on it


    def bucket_quantile(q, buckets):
        return _reference(q, buckets)
    """
)

# --------------------------------------------------------------------------- task (c): burn_rate_alert

ALERT_CUMSUM = _code(
    """
    def _window(values, minutes):
        total = np.concatenate([[0], np.cumsum(values)])
        start = np.maximum(np.arange(1, len(values) + 1) - minutes, 0)
        return total[1:] - total[start]


    def burn_rate_alert(requests, errors, slo=0.999):
        def burn(minutes):
            asked, failed = _window(requests, minutes), _window(errors, minutes)
            ratio = np.divide(failed, asked, out=np.zeros(len(asked)), where=asked > 0)
            return ratio / (1 - slo)

        page_fast = (burn(60) > 14.4) & (burn(5) > 14.4)
        page_slow = (burn(360) > 6) & (burn(30) > 6)
        return page_fast | page_slow
    """
)

ALERT_PANDAS = _code(
    """
    import pandas as pd


    def burn_rate_alert(requests, errors, slo=0.999):
        frame = pd.DataFrame({"requests": requests, "errors": errors})
        firing = pd.Series(False, index=frame.index)
        for factor, long, short in ((14.4, 60, 5), (6, 360, 30)):
            rule = pd.Series(True, index=frame.index)
            for minutes in (long, short):
                sums = frame.rolling(minutes, min_periods=1).sum()
                ratio = (sums["errors"] / sums["requests"]).fillna(0)
                rule &= ratio > factor * (1 - slo)
            firing |= rule
        return firing.to_numpy()
    """
)

ALERT = _code(
    """
    def burn_rate_alert(requests, errors, slo=0.999):
        budget = BUDGET
        firing = np.zeros(len(requests), dtype=bool)
        for factor, long_window, short_window in RULES:
            long_ratio = RATIO(requests, errors, long_window)
            short_ratio = RATIO(requests, errors, short_window)
            firing |= (long_ratio ABOVE factor * budget) AND (short_ratio ABOVE factor * budget)
        return firing
    """
)


def alert(
    budget: str = "1 - slo",
    rules: str = "((14.4, 60, 5), (6, 360, 30))",
    ratio: str = "alerts.window_error_ratio",
    above: str = ">",
    both: str = "&",
) -> str:
    return (
        ALERT.replace("BUDGET", budget)
        .replace("RULES", rules)
        .replace("RATIO", ratio)
        .replace("ABOVE", above)
        .replace("AND", both)
    )


ALERT_PREVIOUS_MINUTES = (
    _code(
        """
        def _previous(requests, errors, minutes):  # the minutes before this one, not this one
            ratio = alerts.window_error_ratio(requests, errors, minutes)
            return np.concatenate([[0.0], ratio[:-1]])
        """
    )
    + "\n\n\n"
    + alert(ratio="_previous")
)
ALERT_FULL_WINDOWS = (
    _code(
        """
        def _full(requests, errors, minutes):  # nothing until the window is full
            ratio = alerts.window_error_ratio(requests, errors, minutes)
            ratio[: minutes - 1] = 0.0
            return ratio
        """
    )
    + "\n\n\n"
    + alert(ratio="_full")
)
ALERT_MEAN_OF_RATIOS = (
    _code(
        """
        def _mean(requests, errors, minutes):  # the mean of each minute's ratio
            per_minute = np.divide(errors, requests, out=np.zeros(len(requests)), where=requests > 0)
            return alerts.window_error_ratio(np.ones(len(requests)), per_minute, minutes)
        """
    )
    + "\n\n\n"
    + alert(ratio="_mean")
)
ALERT_FORBIDDEN = _code(
    """
    from course_lib.monitoring.alerts import multiwindow_burn_rate_alert as _workbook


    def burn_rate_alert(requests, errors, slo=0.999):
        return _workbook(requests, errors, slo=slo)
    """
)

# --------------------------------------------------------------------------- task (d): request ids

REQUEST_IDS = _code(
    """
    request_id_var = ContextVar("request_id", default="-")


    class RequestIdFilter(logging.Filter):
        def filter(self, record):
            record.request_id = FILTER_VALUE
            return FILTER_RETURN


    def add_request_ids(app):
        @app.middleware("http")
        async def request_ids(request, call_next):
            request_id = NEW_ID
            token = request_id_var.set(request_id)
            BODY
            response.headers["X-Request-ID"] = request_id
            return response
    """
)
WITH_RESET = "try:\n    response = await call_next(request)\nfinally:\n    request_id_var.reset(token)"


def request_ids(
    value: str = "request_id_var.get()",
    result: str = "True",
    new_id: str = 'request.headers.get("x-request-id") or uuid.uuid4().hex',
    body: str = WITH_RESET,
) -> str:
    body = textwrap.indent(body, "        ").strip()
    return (
        REQUEST_IDS.replace("FILTER_VALUE", value)
        .replace("FILTER_RETURN", result)
        .replace("NEW_ID", new_id)
        .replace("BODY", body)
    )


#: A plain ASGI middleware that adds the header to the response's start message.
REQUEST_IDS_ASGI = _code(
    """
    request_id_var = ContextVar("request_id", default="-")


    class RequestIdFilter(logging.Filter):
        def filter(self, record):
            record.request_id = request_id_var.get()
            return True


    class RequestIds:
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http":
                return await self.app(scope, receive, send)
            sent = dict(scope["headers"]).get(b"x-request-id", b"").decode()
            request_id = sent or str(uuid.uuid4())

            async def send_with_id(message):
                if message["type"] == "http.response.start":
                    message.setdefault("headers", [])
                    message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
                await send(message)

            token = request_id_var.set(request_id)
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                request_id_var.reset(token)


    def add_request_ids(app):
        app.add_middleware(RequestIds)
    """
)

#: BaseHTTPMiddleware with a dispatch function, the header read as sent, the id set with a helper.
REQUEST_IDS_DISPATCH = _code(
    """
    from starlette.middleware.base import BaseHTTPMiddleware

    request_id_var = ContextVar("request_id", default="-")


    class RequestIdFilter(logging.Filter):
        def filter(self, record):
            setattr(record, "request_id", request_id_var.get())
            return True


    async def _with_id(request, call_next):
        request_id = request.headers.get("X-Request-ID")
        if not request_id:
            request_id = uuid.uuid4().hex[:16]
        token = request_id_var.set(request_id)
        try:
            response = await call_next(request)
        finally:
            request_id_var.reset(token)
        response.headers["x-request-id"] = request_id
        return response


    def add_request_ids(app):
        app.add_middleware(BaseHTTPMiddleware, dispatch=_with_id)
    """
)

REQUEST_IDS_GLOBAL = _code(
    """
    request_id_var = ContextVar("request_id", default="-")
    _current = {"id": "-"}  # one value for the whole process


    class RequestIdFilter(logging.Filter):
        def filter(self, record):
            record.request_id = _current["id"]
            return True


    def add_request_ids(app):
        @app.middleware("http")
        async def request_ids(request, call_next):
            request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
            _current["id"] = request_id
            try:
                response = await call_next(request)
            finally:
                _current["id"] = "-"
            response.headers["X-Request-ID"] = request_id
            return response
    """
)
REQUEST_IDS_NO_HEADER = request_ids().replace('        response.headers["X-Request-ID"] = request_id\n', "")


# --------------------------------------------------------------------------- the gradings

HONEST = {
    "honest, hooks and loops": {
        "instrument_answer": INSTRUMENT_ASGI,
        "quantile_answer": QUANTILE_BISECT,
        "alert_answer": ALERT_CUMSUM,
        "request_id_answer": REQUEST_IDS_ASGI,
    },
    "honest, libraries": {
        "instrument_answer": INSTRUMENT_MATCHING,
        "quantile_answer": QUANTILE_NUMPY,
        "alert_answer": ALERT_PANDAS,
        "request_id_answer": REQUEST_IDS_DISPATCH,
    },
}

#: For each answer cell: (what is wrong, its source, the checks it must lose).
WRONG: dict[str, list[tuple[str, str, set[str]]]] = {
    "instrument_answer": [
        ("labels the path", instrument(route="request.url.path"), {"instrument_visible", "instrument_hidden"}),
        (
            "no <unmatched>",
            instrument(route='getattr(request.scope.get("route"), "path", request.url.path)'),
            {"instrument_visible", "instrument_hidden"},
        ),
        ("a raising handler is not counted", INSTRUMENT_NO_FINALLY, {"instrument_hidden"}),
        (
            "milliseconds",
            instrument(seconds="(time.perf_counter() - start) * 1000"),
            {"instrument_visible", "instrument_hidden"},
        ),
        ("405 and 422 as <unmatched>", INSTRUMENT_FULL_MATCH_ONLY, {"instrument_hidden"}),
        ("no bound at 0.25", instrument(buckets="(0.1, 0.5, 1.0)"), {"instrument_visible", "instrument_hidden"}),
        ("a status label on the histogram", INSTRUMENT_WITH_STATUS_LABEL, {"instrument_visible", "instrument_hidden"}),
        ("metrics made once, at module level", INSTRUMENT_MODULE_LEVEL, {"instrument_hidden"}),
    ],
    "quantile_answer": [
        ("count > rank", quantile(compare=">"), {"quantile_hidden"}),
        ("0/0 over an empty first bucket", QUANTILE_NO_NAN_FOR_EMPTY, {"quantile_hidden"}),
        ("a lone +Inf bucket", QUANTILE_LONE_INF_FAILS, {"quantile_hidden"}),
        ("+Inf answered with inf", quantile(inf_answer="math.inf"), {"quantile_visible", "quantile_hidden"}),
        ("pops the +Inf bucket", QUANTILE_POPS_INF, {"quantile_visible", "quantile_hidden"}),
        ("calls histogram_quantile", QUANTILE_FORBIDDEN, {"quantile_visible", "quantile_hidden"}),
    ],
    "alert_answer": [
        ("only the 14.4 rule", alert(rules="((14.4, 60, 5),)"), {"alert_visible", "alert_hidden"}),
        ("either window", alert(both="|"), {"alert_visible", "alert_hidden"}),
        ("the current minute left out", ALERT_PREVIOUS_MINUTES, {"alert_visible", "alert_hidden"}),
        (">= instead of >", alert(above=">="), {"alert_hidden"}),
        ("the budget of 99.9% always", alert(budget="0.001"), {"alert_hidden"}),
        ("nothing until a window is full", ALERT_FULL_WINDOWS, {"alert_hidden"}),
        ("a mean of per-minute ratios", ALERT_MEAN_OF_RATIOS, {"alert_visible", "alert_hidden"}),
        ("calls multiwindow_burn_rate_alert", ALERT_FORBIDDEN, {"alert_visible", "alert_hidden"}),
    ],
    "request_id_answer": [
        ("a module-level variable", REQUEST_IDS_GLOBAL, {"request_id_hidden"}),
        (
            "never reset",
            request_ids(body="response = await call_next(request)"),
            {"request_id_hidden"},
        ),
        (
            "not reset when the handler raises",
            request_ids(body="response = await call_next(request)\nrequest_id_var.reset(token)"),
            {"request_id_hidden"},
        ),
        (
            "the client's id ignored",
            request_ids(new_id="uuid.uuid4().hex"),
            {"request_id_visible", "request_id_hidden"},
        ),
        ("no response header", REQUEST_IDS_NO_HEADER, {"request_id_visible", "request_id_hidden"}),
        ("a filter that drops the lines", request_ids(result="None"), {"request_id_visible", "request_id_hidden"}),
        ("None outside a request", request_ids(value="request_id_var.get(None)"), {"request_id_hidden"}),
        (
            "one id for every request",
            "_ONE_ID = uuid.uuid4().hex\n" + request_ids(new_id='request.headers.get("x-request-id") or _ONE_ID'),
            {"request_id_visible", "request_id_hidden"},
        ),
    ],
}
ROUNDS = max(len(answers) for answers in WRONG.values())


@pytest.fixture(scope="module")
def assignment() -> Assignment:
    return Assignment.load(NAME, ROOT / "solutions", ROOT / "rubrics")


@pytest.fixture(scope="module")
def reference_answers() -> dict[str, str]:
    """The answer cells as the solution has them, markers removed."""
    solution = nbformat.read(ROOT / "solutions" / f"{NAME}.ipynb", as_version=4)
    found = {}
    for cell in solution.cells:
        if grade_id(cell) in TASKS:
            found[grade_id(cell)] = "\n".join(
                line for line in cell.source.splitlines() if "### BEGIN SOLUTION" not in line and "### END" not in line
            )
    return found


def _grade(assignment: Assignment, tmp_path: Path, answers: dict[str, str], label: str) -> dict[str, bool]:
    nb = nbformat.read(ROOT / "exercises" / f"{NAME}.ipynb", as_version=4)
    for cell in nb.cells:
        if grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    path = tmp_path / f"{label.replace(' ', '_').replace(',', '')}.ipynb"
    nbformat.write(nb, path)
    result = grade_submission(label, path, assignment, Limits())
    assert result.status == "graded", result.status
    return {gid: cell.outcome == "passed" for gid, cell in result.cells.items()}


@pytest.mark.parametrize("label", sorted(HONEST))
def test_honest_alternatives_earn_every_check(assignment, tmp_path, label):
    passed = _grade(assignment, tmp_path, HONEST[label], label)
    assert all(passed.values()), [gid for gid, ok in passed.items() if not ok]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_each_wrong_answer_loses_the_check_that_covers_its_clause(assignment, reference_answers, tmp_path, round_):
    answers, expected_lost = {}, {}
    for cell, wrongs in WRONG.items():
        if round_ < len(wrongs):
            what, source, lost = wrongs[round_]
            answers[cell], expected_lost[cell] = source, (what, lost)
        else:
            answers[cell], expected_lost[cell] = reference_answers[cell], ("the reference answer", set())
    passed = _grade(assignment, tmp_path, answers, f"wrong round {round_}")
    problems = []
    for cell, (what, lost) in expected_lost.items():
        actually_lost = {gid for gid in TASKS[cell] if not passed[gid]}
        if actually_lost != lost:
            problems.append(f"{cell} ({what}): lost {sorted(actually_lost)}, expected to lose {sorted(lost)}")
    assert not problems, problems
