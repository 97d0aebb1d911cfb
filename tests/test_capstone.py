"""course_lib.capstone: each slow part really has its problem and each reference fix removes it.

Everything here is counted (statements, plan steps, loads, calls in progress, calls on the event
loop, waits asked for, samples), never timed, so it holds on a busy single core. The reference
fixes are those of the solution notebook (tests/capstone_reference.py).
"""

from __future__ import annotations

import socket

import pytest
from capstone_reference import FIXED, QUERIES

from course_lib.bookstore.data import Scale
from course_lib.capstone import SLOW, Warehouse, WarehouseError, gates, served, stock_level, workload

SMALL = Scale.small()
PATHS = ["/books?limit=20", "/books?genre=poetry&limit=5", "/books?genre=cookery", "/authors/1", "/authors/9999"]


def test_n_plus_one_in_the_slow_parts_and_two_statements_in_the_fixed_ones():
    slow, fixed = gates.statements(SLOW, PATHS, scale=SMALL), gates.statements(QUERIES, PATHS, scale=SMALL)
    assert slow[0] > 20 and slow[3] > 2  # a page of 20 books, one author: one statement per book
    assert max(fixed) <= 2
    assert gates.responses(SLOW, PATHS, scale=SMALL) == gates.responses(QUERIES, PATHS, scale=SMALL)


def test_the_reviews_filter_scans_without_the_index_and_searches_with_it():
    path = ["/books/5/reviews?min_rating=3"]
    assert gates.full_scans(SLOW, path) != [[]]
    assert gates.full_scans(FIXED, path) == [[]]


def test_every_author_read_loads_without_the_cache_once_per_author_with_it():
    reads = [p for p in workload(200, seed=1) if p.startswith("/authors/")][:40]
    slow, fixed = gates.cache_counts(SLOW, reads), gates.cache_counts(FIXED, reads)
    assert slow["loads"] == slow["reads"] == len(reads) > slow["distinct"]
    assert fixed["loads"] == fixed["distinct"]


def test_a_review_write_invalidates_the_cached_author():
    write = ("POST", "/books/47/reviews", {"customer_id": 1, "rating": 1, "title": "dull"})
    requests = ["/authors/1", "/authors/2", write, "/authors/1", "/authors/2"]
    assert gates.responses(FIXED, requests) == gates.responses(SLOW, requests)
    assert gates.cache_counts(FIXED, requests)["loads"] == 3  # 1, 2, then 1 again after the write


def test_the_blocking_sdk_serialises_the_calls_on_the_loop_and_a_worker_thread_overlaps_them():
    slow, fixed = gates.overlap(SLOW, [1, 2, 3, 4]), gates.overlap(FIXED, [1, 2, 3, 4])
    assert (slow["peak"], slow["loop_calls"]) == (1, 4)  # each call blocks the loop; none waits
    assert (fixed["peak"], fixed["loop_calls"]) == (4, 0)
    expected = [[200, {"book_id": i, "in_stock": stock_level(i)}] for i in (1, 2, 3, 4)]
    assert slow["answers"] == fixed["answers"] == expected


def test_the_slow_retry_storms_in_an_outage_and_the_fixed_one_backs_off_and_stops():
    slow = gates.retry_trace(SLOW, 5, down=True, max_calls=30)
    assert slow["calls"] == 31 and slow["answer"][0] == 500 and slow["waits"] == []  # RetryStorm
    fixed = gates.retry_trace(FIXED, 5, down=True)
    assert fixed["calls"] == 4 and fixed["answer"][0] == 503
    waits = fixed["waits"]
    assert len(waits) == 3 and 0.005 <= waits[0] <= 0.05 and all(b >= 2 * a for a, b in zip(waits, waits[1:]))
    assert gates.retry_trace(FIXED, 5, fail_next=2)["calls"] == 3


def test_no_metrics_in_the_slow_service_red_metrics_in_the_fixed_one():
    requests = ["/authors/3", "/authors/3", "/nowhere", "/books/3/stock"]
    assert gates.metrics_snapshot(SLOW, requests) == {"status": 404}
    snap = gates.metrics_snapshot(FIXED, requests, down_after=3)
    assert snap["status"] == 200 and snap["histogram_consistent"] and snap["buckets_span_10ms_to_500ms"]
    assert ["GET", "/authors/{author_id}", "200", 2.0] in snap["requests"]
    assert ["GET", "/books/{book_id}/stock", "503", 1.0] in snap["requests"]


def test_the_slo_budget_fails_the_slow_service_and_passes_the_fixed_one():
    short = workload(30, seed=1)  # the N+1 service is slow to count on the whole workload
    slow, queries, fixed = gates.slo_counts(SLOW, short), gates.slo_counts(QUERIES, short), gates.slo_counts(FIXED)
    assert not gates.slo_proxy_met(slow) and slow["max_statements"] > 2 and slow["loop_calls"] > 0
    assert not gates.slo_proxy_met(queries)  # N+1 fixed, the rest not: still over budget
    assert gates.slo_proxy_met(fixed) and fixed["errors"] == 0 and fixed["waits"] > 0  # retries were needed


def test_the_slo_budget_counts_errors_when_retries_are_missing():
    async def once(call, sleep):
        return await call()

    counts = gates.slo_counts(FIXED.but(with_retries=once), [f"/books/{i}/stock" for i in range(1, 31)])
    assert counts["errors"] >= 3 and not gates.slo_proxy_met(counts)


def test_the_rendezvous_never_waits_for_a_call_on_an_event_loop():
    import asyncio

    warehouse = Warehouse(latency=0)

    async def on_the_loop():
        return warehouse.stock(3)

    with warehouse.rendezvous(2, timeout=600):  # a wait would hang the test
        assert asyncio.run(on_the_loop()) == stock_level(3)
    assert (warehouse.calls, warehouse.loop_calls, warehouse.peak) == (1, 1, 1)


def test_the_warehouse_fails_on_demand_and_in_an_outage():
    warehouse = Warehouse(latency=0)
    warehouse.fail_next(2)
    for _ in range(2):
        with pytest.raises(WarehouseError):
            warehouse.stock(1)
    assert warehouse.stock(1) == stock_level(1)
    warehouse.down = True
    with pytest.raises(WarehouseError, match="outage"):
        warehouse.stock(1)
    assert (warehouse.calls, warehouse.failures) == (4, 3)


def _refused(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_the_served_service_stops_on_exit_and_on_an_error():
    with served(SLOW, scale=SMALL) as (_service, server):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5):
            pass
    assert not server.thread.is_alive() and _refused(server.port)
    with pytest.raises(ZeroDivisionError), served(FIXED, scale=SMALL) as (_service, server):
        raise ZeroDivisionError
    assert not server.thread.is_alive() and _refused(server.port)
