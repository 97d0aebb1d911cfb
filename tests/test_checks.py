"""Self-check helpers: plain-words feedback, one line per pass, no traceback wall."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from course_lib import checks
from course_lib.checks import (
    CheckFailed,
    check_cases,
    check_close,
    check_equal,
    check_raises,
    check_result,
    check_true,
)

ANSI = re.compile(r"\x1b\[")


def failure(call, *args, **kwargs) -> CheckFailed:
    with pytest.raises(CheckFailed) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert not ANSI.search(message), "feedback must not contain colour codes"
    return info.value


# --------------------------------------------------------------------------- the exception


def test_check_failed_is_an_assertion_error() -> None:
    assert issubclass(CheckFailed, AssertionError)


def test_render_traceback_is_just_the_message() -> None:
    error = failure(check_close, 9.0, 9.1, what="percentile([1, 2], 90)", hint="interpolate")
    rendered = error._render_traceback_()
    assert rendered == str(error).splitlines()
    joined = "\n".join(rendered)
    assert "Traceback" not in joined and 'File "' not in joined and not ANSI.search(joined)


def test_ipython_shows_the_feedback_without_a_traceback(tmp_path: Path) -> None:
    # In a separate process, so that IPython's global shell does not leak into other tests.
    script = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "result = shell.run_cell('from course_lib.checks import check_close\\n'\n"
        '                        \'check_close(1.0, 2.0, what="the answer", hint="try harder")\')\n'
        "print('error type:', type(result.error_in_exec).__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "IPYTHONDIR": str(tmp_path)},
    )
    text = done.stdout + done.stderr
    assert "error type: CheckFailed" in text, text
    assert "Check failed: the answer" in text and "hint:     try harder" in text
    assert "Traceback" not in text and "most recent call" not in text and not ANSI.search(text)


def test_parts_are_kept_as_attributes() -> None:
    error = failure(check_equal, 3, 4, what="the count", hint="count again")
    assert (error.what, error.expected, error.actual, error.hint) == ("the count", 4, 3, "count again")


# --------------------------------------------------------------------------- wording


def test_close_failure_says_expected_got_and_hint() -> None:
    message = str(
        failure(check_close, 23.5, 23.0, what="percentile([15, 20, 35, 40, 50], 30)", hint="rank = (n - 1) * q / 100")
    )
    assert message.splitlines() == [
        "✗ Check failed: percentile([15, 20, 35, 40, 50], 30)",
        "  expected: 23.0",
        "  got:      23.5",
        "  hint:     rank = (n - 1) * q / 100",
    ]


def test_missing_return_gets_its_own_hint() -> None:
    message = str(failure(check_close, None, 1.0, what="f()"))
    assert "got:      None" in message and "forget a `return`" in message


def test_sequence_differences_point_at_the_first_one() -> None:
    message = str(failure(check_equal, np.array([1, 2, 4]), [1, 2, 3], what="counts"))
    assert "first difference at position 2: expected 3, got 4" in message
    assert "got:      [1, 2, 4]" in message, "numpy arrays are shown as plain lists"
    message = str(failure(check_close, [1.0], [1.0, 2.0], what="values"))
    assert "1 values instead of 2" in message


def test_long_values_are_shortened() -> None:
    message = str(failure(check_equal, list(range(1000)), [0], what="xs"))
    assert "..." in message and len(message) < 400


def test_check_true_and_check_raises_wording() -> None:
    message = str(failure(check_true, False, "the pool has at least one worker", hint="round up"))
    assert message.splitlines() == ["✗ Check failed: the pool has at least one worker", "  hint:     round up"]
    message = str(failure(check_raises, ValueError, lambda: 1, what="f(-1)", hint="reject negative q"))
    assert "expected ValueError, but it returned 1 without raising" in message and "reject negative q" in message
    message = str(failure(check_raises, ValueError, lambda: 1 / 0, what="f(0)"))
    assert "but it raised ZeroDivisionError: division by zero" in message


# --------------------------------------------------------------------------- passing checks print one line


def test_passes_print_one_short_line(capsys: pytest.CaptureFixture[str]) -> None:
    check_close(0.1 + 0.2, 0.3, what="0.1 + 0.2")
    check_equal(np.array([1, 2]), [1, 2], what="the counts")
    check_true(True, "the cache is warm")
    check_raises(ZeroDivisionError, lambda: 1 / 0, what="1 / 0")
    check_result(sorted, ([3, 1, 2],), [1, 2, 3])
    assert capsys.readouterr().out.splitlines() == [
        "✓ 0.1 + 0.2 is 0.3",
        "✓ the counts is [1, 2]",
        "✓ the cache is warm",
        "✓ 1 / 0 raises ZeroDivisionError",
        "✓ sorted([3, 1, 2]) is [1, 2, 3]",
    ]


def test_check_cases_success_line(capsys: pytest.CaptureFixture[str]) -> None:
    def percentile(samples, q):
        return float(np.percentile(samples, q))

    check_cases(percentile, [([1, 2, 3], q) for q in (0, 10, 50, 90, 100, 33, 66)], np.percentile, against="numpy")
    assert capsys.readouterr().out == "✓ percentile matches numpy on 7 cases\n"


# --------------------------------------------------------------------------- what the student's code did


def not_written(samples, q):
    raise NotImplementedError("Not solved yet: replace this line with your code.")


def divides_by_zero(samples, q):
    count = 0
    return sum(samples) / count


def sorts_in_place(samples, q):
    samples.sort()
    return float(np.percentile(samples, q))


def calls_numpy(samples, q):
    return float(np.percentile(samples, q))


def test_unwritten_function_is_explained() -> None:
    message = str(failure(check_cases, not_written, [([1, 2], 50)], np.percentile))
    assert "`not_written` is not written yet" in message
    assert "replace the `raise NotImplementedError(...)` line" in message
    message = str(failure(check_result, not_written, ([1, 2], 50), 1.5))
    assert "is not written yet" in message


def test_errors_in_the_students_code_name_the_line() -> None:
    message = str(
        failure(check_cases, divides_by_zero, [([1, 2], 50)], np.percentile, against="numpy", hint="no division needed")
    )
    assert "divides_by_zero([1, 2], 50)" in message
    assert "it raised ZeroDivisionError: division by zero" in message
    assert "`return sum(samples) / count`" in message and "numpy gives 1.5" in message
    assert "hint:     no division needed" in message


def test_modified_inputs_are_caught() -> None:
    message = str(failure(check_cases, sorts_in_place, [([3.0, 1.0, 2.0], 50)], np.percentile))
    assert "changed its argument 1: it was [3.0, 1.0, 2.0] before the call and [1.0, 2.0, 3.0] after" in message
    assert "work on a copy" in message
    check_cases(sorts_in_place, [([3.0, 1.0, 2.0], 50)], np.percentile, inputs_unchanged=False)


def test_forbidden_calls_are_caught_but_the_reference_may_use_them() -> None:
    message = str(
        failure(
            check_cases,
            calls_numpy,
            [([1.0, 2.0], 50)],
            np.percentile,
            must_not_call=["numpy.percentile", "numpy.quantile"],
        )
    )
    assert "`calls_numpy` called numpy.percentile" in message and "compute the result yourself" in message
    assert np.percentile([1.0, 2.0], 50) == 1.5, "the real function is restored afterwards"
    with pytest.raises(ValueError, match=r"cannot find 'numpy\.no_such_function'"):
        check_cases(calls_numpy, [([1.0], 50)], np.percentile, must_not_call=["numpy.no_such_function"])


def test_wrong_answer_in_check_cases_names_the_case_and_reference() -> None:
    message = str(failure(check_cases, lambda s, q: 0.0, [([1, 3], 50)], np.percentile, against="numpy.percentile"))
    assert "<lambda>([1, 3], 50) vs numpy.percentile" in message
    assert "expected: 2.0" in message and "got:      0.0" in message


def test_tolerances() -> None:
    check_close(1.0 + 1e-12, 1.0, what="almost one", quiet=True)
    failure(check_close, 1.001, 1.0, what="too far")
    check_close(1.001, 1.0, what="loose", rel=1e-2, quiet=True)
    check_close(float("nan"), float("nan"), what="nan", quiet=True)


# --------------------------------------------------------------------------- call_alone: the student's code alone

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="call_alone forks only on Linux")


@linux_only
def test_call_alone_runs_without_the_other_threads() -> None:
    import threading

    stop = threading.Event()
    busy = threading.Thread(target=stop.wait, daemon=True)
    busy.start()
    try:
        assert threading.active_count() >= 2
        assert checks.call_alone(threading.active_count) == 1
        assert checks.call_alone(lambda: os.getpid()) != os.getpid()
    finally:
        stop.set()
        busy.join()


@linux_only
def test_call_alone_keeps_other_threads_out_of_tracemalloc() -> None:
    """A thread that allocates all the time shows up in tracemalloc's snapshots, except under call_alone."""
    import threading
    import time
    import tracemalloc

    stop = threading.Event()
    kept: list[bytes] = []

    def allocate() -> None:
        while not stop.is_set():
            kept.append(b"x" * 1000)
            stop.wait(0.0005)

    def growth_in_this_file() -> int:
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            time.sleep(0.05)  # lets the other thread run (in this process it would allocate)
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        return sum(
            s.size_diff
            for s in after.compare_to(before, "lineno")
            if s.size_diff > 0 and s.traceback[0].filename == __file__ and s.traceback[0].lineno != 0
        )

    noise = threading.Thread(target=allocate, daemon=True)
    noise.start()
    try:
        assert checks.call_alone(growth_in_this_file) == 0
    finally:
        stop.set()
        noise.join()


@linux_only
def test_call_alone_passes_back_errors_output_and_nothing_else(capsys: pytest.CaptureFixture[str]) -> None:
    state = {"calls": 0}

    def noisy(x: int) -> int:
        state["calls"] += 1
        print("working on", x)
        return x * 2

    assert checks.call_alone(noisy, 21) == 42
    assert capsys.readouterr().out == "working on 21\n"
    assert state["calls"] == 0, "the child's changes stay in the child"
    with pytest.raises(NotImplementedError):
        checks.call_alone(not_written, [1], 50)
    with pytest.raises(ZeroDivisionError) as info:
        checks.call_alone(divides_by_zero, [1], 50)
    assert any("return sum(samples) / count" in note for note in getattr(info.value, "__notes__", []))
    with pytest.raises(RuntimeError, match="cannot be sent back"):
        checks.call_alone(lambda: lambda: None)
    with pytest.raises(RuntimeError, match="without an answer"):
        checks.call_alone(os._exit, 3)


# --------------------------------------------------------------------------- exercise 01: its data


def test_the_latency_sample_is_seeded_and_has_a_slow_tail() -> None:
    from course_lib.checks.fundamentals import checkout_latencies_ms

    sample = checkout_latencies_ms()
    assert np.array_equal(sample, checkout_latencies_ms()) and sample.size == 10_000
    assert np.median(sample) < 60 and 0.01 < np.mean(sample > 200) < 0.05


# --------------------------------------------------------------------------- exercise 03: references


def _notebook_code(name: str, *cell_ids: str, **given: object) -> dict[str, object]:
    """The names the solution's cells ``cell_ids`` define, run after its setup cell, with ``given`` set."""
    from course_tools.notebook_files import read_notebook

    cells = {cell.id: cell.source for cell in read_notebook(Path(__file__).parents[1] / "solutions" / name).cells}
    namespace: dict[str, object] = dict(given)
    for cell_id in ("setup", *cell_ids):
        exec(cells[cell_id], namespace)
    return namespace


def test_the_database_references_are_the_notebooks_code(capsys: pytest.CaptureFixture[str]) -> None:
    from course_lib.checks import database

    with database.exercise_bookstore() as store:
        busiest = database.busiest_customer(store)
        notebook = _notebook_code(
            "03_database_optimization.ipynb", "naive-loaders", "offset-page", store=store, BUSY_CUSTOMER=busiest
        )
        with store.session() as session:
            for country in ("GB", "JP", "US", "XX"):
                expected = notebook["author_catalogue_naive"](session, country)
                assert database.author_catalogue_reference(session, country) == expected
            for customer in (busiest, 3, 10**6):
                expected = notebook["order_summaries_naive"](session, customer)
                assert database.order_summaries_reference(session, customer) == expected
            for page in (0, 3, 19, 20):
                assert database.catalogue_page_offset(session, page, 25) == notebook["catalogue_page_offset"](
                    session, page
                )
    capsys.readouterr()


def test_check_loader_counts_the_loaders_statements(capsys: pytest.CaptureFixture[str]) -> None:
    from course_lib.checks import database

    with database.exercise_bookstore() as store:
        reference = database.author_catalogue_reference
        database.check_loader(reference, reference, store, "GB", budget=100)
        assert "✓" in capsys.readouterr().out
        message = str(failure(database.check_loader, reference, reference, store, "GB", budget=2))
        assert "author_catalogue_reference(session, 'GB')" in message and "the budget is 2" in message


# --------------------------------------------------------------------------- exercise 04: cache-aside, given


def _aside(cache: bool = True, invalidate: bool = True) -> tuple:
    import orjson

    from course_lib.caching.bookstore import load_book, set_price

    def get_book(shop, store, book_id):
        raw = store.get(f"book:{book_id}") if cache else None
        if raw is not None:
            return orjson.loads(raw)
        with shop.session() as session:
            book = load_book(session, book_id)
        store.set(f"book:{book_id}", orjson.dumps(book), ttl=300)
        return book

    def update_price(shop, store, book_id, price_cents):
        with shop.session() as session:
            set_price(session, book_id, price_cents)
        if invalidate:
            store.delete(f"book:{book_id}")

    return get_book, update_price


def test_check_cache_aside_gives_the_functions_a_shop_and_a_store_of_its_own() -> None:
    from course_lib.checks.caching import check_cache_aside

    script = [("read", 7), ("read", 7), ("write", 7, 2345), ("read", 7), ("read", 99_999)]
    assert check_cache_aside(*_aside(), script, quiet=True) == {"reads": 4, "writes": 1, "read_statements": 3}
    assert "stale read" in str(failure(check_cache_aside, *_aside(invalidate=False), script, quiet=True))
    assert "should have come from the cache" in str(failure(check_cache_aside, *_aside(cache=False), script))

    def stub(*args):
        raise NotImplementedError

    assert "not written yet" in str(failure(check_cache_aside, stub, stub, script))


# --------------------------------------------------------------------------- exercise 05: monitoring


def _instrument(app, registry, *, by_path: bool = False) -> None:
    import time

    from fastapi.responses import Response
    from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

    requests = Counter("shop_http_requests_total", "requests", ["method", "route", "status"], registry=registry)
    latency = Histogram("shop_http_request_duration_seconds", "latency", ["method", "route"], registry=registry)

    @app.middleware("http")
    async def red(request, call_next):
        start, status = time.perf_counter(), "500"
        try:
            response = await call_next(request)
            status = str(response.status_code)
            return response
        finally:
            route = request.url.path if by_path else getattr(request.scope.get("route"), "path", "<unmatched>")
            requests.labels(request.method, route, status).inc()
            latency.labels(request.method, route).observe(time.perf_counter() - start)

    @app.get("/metrics")
    async def metrics():
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def test_scrape_after_reads_what_the_instrumented_shop_recorded() -> None:
    from course_lib.checks.monitoring import scrape_after

    mix = [("GET", "/orders/1"), ("GET", "/orders/13"), ("GET", "/orders/2000"), ("POST", "/orders"), ("GET", "/x")]
    scrape = scrape_after(_instrument, mix)
    assert scrape.counts == {
        ("GET", "/orders/{order_id}", "200"): 1,
        ("GET", "/orders/{order_id}", "500"): 1,
        ("GET", "/orders/{order_id}", "404"): 1,
        ("POST", "/orders", "201"): 1,
        ("GET", "<unmatched>", "404"): 1,
    }
    assert scrape.observed == {("GET", "/orders/{order_id}"): 3, ("POST", "/orders"): 1, ("GET", "<unmatched>"): 1}
    assert "0.25" in scrape.bounds and "+Inf" in scrape.bounds
    by_path = scrape_after(lambda app, registry: _instrument(app, registry, by_path=True), mix[:1]).counts
    assert by_path == {("GET", "/orders/1", "200"): 1}
    assert "`not_written` is not written yet" in str(failure(scrape_after, not_written, mix))
    assert "GET /metrics answers 200 (it answered 404)" in str(failure(scrape_after, lambda app, registry: None, mix))


def test_check_alert_catches_misses_false_alarms_and_wrong_shapes(capsys: pytest.CaptureFixture[str]) -> None:
    from course_lib.checks.monitoring import check_alert, incident_month, quiet_month
    from course_lib.monitoring import alerts

    def workbook(requests, errors, slo):
        return alerts.multiwindow_burn_rate_alert(requests, errors, slo=slo)

    def static(requests, errors, slo):  # pages on every blip
        return alerts.static_threshold_alert(requests, errors, threshold=0.01)

    score = check_alert(workbook, incident_month(), [5, 300], "incidents")
    assert score.detected == [True, True] and score.false_alarms == 0
    assert "no alarm outside the incidents" in str(failure(check_alert, static, quiet_month(), [], "quiet"))
    never = failure(check_alert, lambda r, e, slo: np.zeros(r.size, dtype=bool), incident_month(), [5, 300], "x")
    assert "the outage is caught within 5 minutes" in str(never)
    assert "one boolean per minute" in str(failure(check_alert, lambda r, e, slo: list(r > 0), quiet_month(), [], "x"))
    with pytest.raises(ValueError, match="one deadline per incident"):
        check_alert(workbook, incident_month(), [5], "x")
    capsys.readouterr()


def _request_ids(*, header: bool = True, in_lines: bool = True) -> tuple:
    import logging
    import uuid
    from contextvars import ContextVar

    current = ContextVar("request_id", default="-")

    class Filter(logging.Filter):
        def filter(self, record):
            record.request_id = current.get() if in_lines else "-"
            return True

    def add_request_ids(app):
        @app.middleware("http")
        async def ids(request, call_next):
            request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
            token = current.set(request_id)
            try:
                response = await call_next(request)
            finally:
                current.reset(token)
            if header:
                response.headers["X-Request-ID"] = request_id
            return response

    return add_request_ids, Filter


def test_logged_requests_and_check_lines_match(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    import httpx

    from course_lib.checks.monitoring import check_lines_match, logged_requests

    def send(url):
        return [httpx.get(f"{url}/orders/{i}", timeout=30) for i in (1, 2, 13)]

    responses, lines = logged_requests(*_request_ids(), send)
    assert [r.status_code for r in responses] == [200, 200, 500] and len(lines) == 6
    check_lines_match(responses, lines, "three requests")
    assert "✓ three requests: each log line carries" in capsys.readouterr().out
    responses, lines = logged_requests(*_request_ids(in_lines=False), send)
    assert "each log line carries the id" in str(failure(check_lines_match, responses, lines, "x"))
    responses, lines = logged_requests(*_request_ids(header=False), send)
    assert "every response has an X-Request-ID header" in str(failure(check_lines_match, responses, lines, "x"))

    class RequestIdFilter(logging.Filter):
        def filter(self, record):
            raise NotImplementedError

    add_request_ids, _ = _request_ids()
    unwritten = str(failure(logged_requests, add_request_ids, RequestIdFilter, send))
    assert "calling RequestIdFilter.filter" in unwritten and "not written yet" in unwritten
