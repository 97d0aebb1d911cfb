"""The sample data and the slow report of module 02: deterministic, correct, and slow for the
reason the lesson says (counted, not timed)."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from course_lib.profiling import slow_report
from course_lib.profiling.slow_report import ReportService, bestseller_report, make_bookstore


def test_same_seed_same_data_other_seed_other_data() -> None:
    assert make_bookstore(50, 80, seed=4) == make_bookstore(50, 80, seed=4)
    assert make_bookstore(50, 80, seed=4) != make_bookstore(50, 80, seed=5)


def test_data_are_consistent() -> None:
    store = make_bookstore(n_books=120, n_orders=300, seed=9)
    book_ids = [b["id"] for b in store.books]
    author_ids = {a["id"] for a in store.authors}
    assert len(set(book_ids)) == len(book_ids) and book_ids != sorted(book_ids)
    assert book_ids != list(range(len(book_ids))), "ids are not list positions"
    assert all(b["author_id"] in author_ids for b in store.books)
    assert all(line["book_id"] in set(book_ids) for o in store.orders for line in o["lines"])
    assert all(1 <= len(o["lines"]) <= 5 for o in store.orders)
    assert all(1 <= r["stars"] <= 5 and r["book_id"] in set(book_ids) for r in store.reviews)
    with pytest.raises(ValueError, match="n_books"):
        make_bookstore(n_books=0)


def _reference_report(store, top):
    """The same report computed independently, with a dict index."""
    books = {b["id"]: b for b in store.books}
    names = {a["id"]: a["name"] for a in store.authors}
    sales: dict[int, list[int]] = {}
    for order in store.orders:
        for line in order["lines"]:
            price = books[line["book_id"]]["price_cents"]
            entry = sales.setdefault(line["book_id"], [0, 0])
            entry[0] += line["quantity"]
            entry[1] += line["quantity"] * price * (100 - order["discount_pct"]) // 100
    stars: dict[int, list[int]] = {}
    for review in store.reviews:
        stars.setdefault(review["book_id"], []).append(review["stars"])
    rows = sorted(sales.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))[:top]
    return [
        {
            "rank": rank,
            "book_id": book_id,
            "title": books[book_id]["title"],
            "author": names[books[book_id]["author_id"]],
            "copies": copies,
            "revenue_cents": revenue,
            "stars": round(sum(stars[book_id]) / len(stars[book_id]), 2) if book_id in stars else None,
        }
        for rank, (book_id, (copies, revenue)) in enumerate(rows, start=1)
    ]


@pytest.mark.parametrize(("n_books", "n_orders", "seed", "top"), [(30, 50, 1, 5), (200, 400, 2, 10), (5, 3, 3, 10)])
def test_report_matches_an_independent_computation(n_books, n_orders, seed, top) -> None:
    store = make_bookstore(n_books, n_orders, seed)
    assert bestseller_report(store, top) == _reference_report(store, top)


def test_find_book_scans_the_list(monkeypatch) -> None:
    store = make_bookstore(n_books=100, n_orders=200, seed=6)
    comparisons = 0

    class CountingId(int):
        def __eq__(self, other):
            nonlocal comparisons
            comparisons += 1
            return int(self) == other

        __hash__ = int.__hash__

    books = [{**b, "id": CountingId(b["id"])} for b in store.books]
    slow_report.sales_by_book(store.orders, books)
    # quadratic: about half the list is scanned per order line
    assert comparisons > store.n_order_lines * len(books) / 4
    with pytest.raises(KeyError, match="no book with id -1"):
        slow_report.find_book(store.books, -1)


def test_report_service_answers_and_leaks_one_entry_per_request() -> None:
    store = make_bookstore(n_books=10, n_orders=0, seed=1)
    service = ReportService(store)
    book = store.books[3]
    for i in range(50):
        body = json.loads(service.handle({"path": f"/books/{book['id']}", "request_id": f"r-{i}"}))
        assert body["id"] == book["id"] and body["title"] == book["title"]
    assert service.cached_responses == 50, "the cache key includes the unique request id: no hits"
    again = service.handle({"path": f"/books/{book['id']}", "request_id": "r-0"})
    assert service.cached_responses == 50 and json.loads(again)["request_id"] == "r-0"
    with pytest.raises(KeyError):
        service.handle({"path": "/books/1", "request_id": "x"})


def test_the_leak_shows_in_a_tracemalloc_diff() -> None:
    store = make_bookstore(n_books=40, n_orders=0, seed=2)
    service = ReportService(store)
    path = f"/books/{store.books[0]['id']}"
    tracemalloc.start()
    try:
        service.handle({"path": path, "request_id": "warm-up"})
        before = tracemalloc.take_snapshot()
        for i in range(300):
            service.handle({"path": path, "request_id": f"r-{i}"})
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    top = max(after.compare_to(before, "lineno"), key=lambda s: s.size_diff)
    frame = top.traceback[0]
    assert frame.filename == slow_report.__file__
    assert (
        "json.dumps"
        in slow_report.__loader__.get_source("course_lib.profiling.slow_report").splitlines()[frame.lineno - 1]
    )
    assert top.size_diff > 300 * 200
