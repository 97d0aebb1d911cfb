"""course_lib.bookstore: the data generator, the database it fills, the naive and optimised
queries, and the FastAPI app.

Most tests run on whatever ``temporary_database()`` gives: SQLite locally, PostgreSQL in CI
(COURSE_DATABASE_URL), so both backends are proven to give the same rows and the same
statement counts. Tests marked ``services`` need PostgreSQL itself (skipped locally without
the URL, a failure under CI=true); ``sqlite_only`` ones pin the embedded default.
"""

from __future__ import annotations

import collections
import os
from datetime import date

import pytest
from needs import required_url
from sqlalchemy import Index, func, inspect, select, text

from course_lib.backends import DATABASE_ENV
from course_lib.bookstore import (
    Author,
    Book,
    Order,
    OrderLine,
    Review,
    Scale,
    generate,
    queries,
    temporary_bookstore,
)
from course_lib.bookstore.app import app_client, create_app
from course_lib.bookstore.models import TABLES
from course_lib.database.querycount import count_queries

SMALL = Scale.small()


@pytest.fixture(scope="module")
def store():
    """One small bookstore for the read-only tests of this module."""
    with temporary_bookstore(SMALL, seed=5) as store:
        yield store


@pytest.fixture
def fresh_store():
    """A bookstore of its own, for tests that write."""
    with temporary_bookstore(Scale(authors=10, books=40, customers=30, reviews=200, orders=60), seed=9) as store:
        yield store


@pytest.fixture
def sqlite_only(monkeypatch):
    monkeypatch.delenv(DATABASE_ENV, raising=False)


# --------------------------------------------------------------------------- the generator


def test_the_same_seed_gives_the_same_rows_and_another_seed_other_rows():
    first, again, other = generate(SMALL, seed=1), generate(SMALL, seed=1), generate(SMALL, seed=2)
    assert first == again
    assert first["reviews"] != other["reviews"] and first["books"] != other["books"]


def test_row_counts_follow_the_scale():
    rows = generate(SMALL, seed=3)
    for table in ("authors", "books", "customers", "reviews", "orders"):
        assert len(rows[table]) == getattr(SMALL, table)
    lines_per_order = len(rows["order_lines"]) / SMALL.orders
    assert 1 <= lines_per_order <= SMALL.lines_per_order * 1.2
    assert Scale().times(0.5).books == 1000 and Scale().times(0.0001).authors == 1


def test_ids_are_consecutive_and_foreign_keys_point_at_existing_rows():
    rows = generate(SMALL, seed=4)
    for table in TABLES:
        assert [r["id"] for r in rows[table]] == list(range(1, len(rows[table]) + 1)), table
    ids = {table: {r["id"] for r in rows[table]} for table in TABLES}
    assert {r["author_id"] for r in rows["books"]} <= ids["authors"]
    assert {r["book_id"] for r in rows["reviews"]} | {r["book_id"] for r in rows["order_lines"]} <= ids["books"]
    assert {r["customer_id"] for r in rows["reviews"]} | {r["customer_id"] for r in rows["orders"]} <= ids["customers"]
    assert {r["order_id"] for r in rows["order_lines"]} == ids["orders"], "every order has at least one line"
    assert len({r["email"] for r in rows["customers"]}) == SMALL.customers


def test_the_data_is_skewed_where_real_data_is():
    rows = generate(Scale(), seed=0)
    reviews = collections.Counter(r["book_id"] for r in rows["reviews"]).most_common()
    top_share = sum(n for _, n in reviews[: len(rows["books"]) // 100]) / len(rows["reviews"])
    assert top_share > 0.2, "the top 1% of books should hold a large share of the reviews"
    ratings = collections.Counter(r["rating"] for r in rows["reviews"])
    assert ratings[5] > ratings[4] > ratings[3] > ratings[1], "ratings pile up at the top"
    statuses = collections.Counter(r["status"] for r in rows["orders"])
    assert statuses.most_common(1)[0][0] == "delivered" and statuses["delivered"] > 0.7 * len(rows["orders"])
    days = collections.Counter(r["created_on"] for r in rows["reviews"])
    assert max(days.values()) > 1, "reviews share days: sort keys have ties"
    created = [r["created_at"] for r in rows["orders"]]
    assert created == sorted(created), "orders are numbered in time order"


def test_prices_match_between_books_and_order_lines():
    rows = generate(SMALL, seed=6)
    price = {b["id"]: b["price_cents"] for b in rows["books"]}
    assert all(line["unit_price_cents"] == price[line["book_id"]] for line in rows["order_lines"])
    assert all(p % 100 == 99 and p >= 99 for p in price.values())


# --------------------------------------------------------------------------- the database


def test_the_database_holds_exactly_the_generated_rows(store):
    rows = generate(SMALL, seed=5)
    with store.engine.connect() as connection:
        for table in TABLES:
            assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() == len(rows[table])
        ratings = connection.execute(select(func.sum(Review.rating))).scalar()
        assert ratings == sum(r["rating"] for r in rows["reviews"])
        latest = connection.execute(select(func.max(Review.created_on))).scalar()
        assert latest == max(r["created_on"] for r in rows["reviews"])
        seventh = connection.execute(select(Order.created_at).where(Order.id == 7)).scalar()
        assert seventh == rows["orders"][6]["created_at"]
    assert store.counts == {table: len(rows[table]) for table in TABLES}


def test_only_keys_are_indexed_even_when_a_lesson_added_an_index_to_the_metadata():
    stray = Index("ix_test_stray", Order.customer_id)  # joins the shared metadata, as a lesson's would
    try:
        with temporary_bookstore(Scale(authors=3, books=5, customers=5, reviews=5, orders=5), seed=1) as store:
            indexes = {t: inspect(store.engine).get_indexes(t) for t in TABLES}
    finally:
        Order.__table__.indexes.discard(stray)
    assert all(not found for table, found in indexes.items() if table != "customers"), indexes
    assert [i["column_names"] for i in indexes["customers"]] in ([], [["email"]])  # the unique e-mail


def test_new_rows_get_fresh_ids(fresh_store):
    with fresh_store.session() as session:
        review = Review(book_id=1, customer_id=1, rating=5, created_on=date(2025, 1, 1), title="New")
        session.add(review)
        session.commit()
        assert review.id == fresh_store.counts["reviews"] + 1


def test_the_database_is_removed_on_exit(sqlite_only):
    with temporary_bookstore(Scale(authors=2, books=2, customers=2, reviews=2, orders=2), seed=0) as store:
        path = store.engine.url.database
        assert os.path.exists(path)
    assert not os.path.exists(path)


# --------------------------------------------------------------------------- the queries

CASES = [
    ("book_list", {}),
    ("book_list", {"genre": "poetry", "limit": 7}),
    ("book_list", {"genre": "no such genre"}),
    ("author_detail", {"author_id": 1}),
    ("author_detail", {"author_id": 10_000}),
    ("customer_orders", {"customer_id": 2}),
    ("customer_orders", {"customer_id": 2, "limit": 3}),
    ("customer_orders", {"customer_id": 10_000}),
    ("top_books", {}),
    ("top_books", {"limit": 3}),
]


@pytest.mark.parametrize(("name", "arguments"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_naive_and_optimised_queries_agree_and_the_optimised_ones_send_few_statements(store, name, arguments):
    results, counts = {}, {}
    for label, variant in (("naive", queries.NAIVE), ("optimised", queries.OPTIMISED)):
        with store.session() as session, count_queries(store.engine) as log:
            results[label] = getattr(variant, name)(session, **arguments)
        counts[label] = log.count
    assert results["naive"] == results["optimised"]
    budget = {"book_list": 2, "author_detail": 2, "customer_orders": 3, "top_books": 1}[name]
    assert counts["optimised"] <= budget
    assert counts["naive"] >= counts["optimised"]


def test_naive_counts_follow_the_data(store):
    """The counts the lesson predicts from a response: one per book, per distinct author, ..."""
    with store.session() as session, count_queries(store.engine) as log:
        page = queries.book_list_naive(session, limit=20)
    assert log.count == 1 + len({b["author"] for b in page}) + len(page)
    with store.session() as session, count_queries(store.engine) as log:
        author = queries.author_detail_naive(session, 1)
    assert log.count == 2 + len(author["books"])
    with store.session() as session, count_queries(store.engine) as log:
        orders = queries.customer_orders_naive(session, 2)
    assert log.count == 2 + len(orders) + len({line["book_id"] for o in orders for line in o["lines"]})
    with store.session() as session, count_queries(store.engine) as log:
        best = queries.top_books_naive(session)
    assert log.count == 1 + len(best) + len({b["author"] for b in best})


def test_query_results_are_correct_not_only_consistent(store):
    with store.session() as session:
        page = queries.book_list_optimised(session, limit=5)
        book = session.get(Book, page[0]["id"])
        ratings = [r.rating for r in book.reviews]
        assert page[0]["reviews"] == len(ratings) and page[0]["author"] == book.author.name
        assert page[0]["average_rating"] == (round(sum(ratings) / len(ratings), 2) if ratings else None)
        best = queries.top_books_optimised(session, limit=1)[0]
        lines = session.scalars(select(OrderLine).where(OrderLine.book_id == best["book_id"])).all()
        assert best["revenue_cents"] == sum(line.quantity * line.unit_price_cents for line in lines)
        assert best["copies"] == sum(line.quantity for line in lines)
        orders = queries.customer_orders_optimised(session, 2)
        assert [o["created_at"] for o in orders] == sorted((o["created_at"] for o in orders), reverse=True)


# --------------------------------------------------------------------------- the app


def _get_both(store, path):
    responses, counts = {}, {}
    for variant in ("naive", "optimised"):
        with app_client(create_app(store.engine, variant=variant)) as client:
            with count_queries(store.engine) as log:
                response = client.get(path)
        responses[variant], counts[variant] = (response.status_code, response.json()), log.count
    return responses, counts


@pytest.mark.parametrize(
    ("path", "optimised_count"),
    [
        ("/books?limit=10", 2),
        ("/books?genre=fiction", 2),
        ("/authors/2", 2),
        ("/customers/3/orders", 3),
        ("/customers/3/orders?limit=2", 3),
        ("/stats/top-books?limit=4", 1),
    ],
)
def test_endpoints_answer_the_same_with_fewer_statements(store, path, optimised_count):
    responses, counts = _get_both(store, path)
    assert responses["naive"] == responses["optimised"] and responses["naive"][0] == 200
    assert counts["optimised"] == optimised_count < counts["naive"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/authors/999999", 404),
        ("/customers/999999/orders", 404),
        ("/books?limit=0", 422),
        ("/books?limit=101", 422),
        ("/stats/top-books?limit=abc", 422),
    ],
)
def test_endpoint_errors(store, path, status):
    responses, _ = _get_both(store, path)
    assert responses["naive"][0] == responses["optimised"][0] == status
    if status == 404:
        assert "999999" in responses["naive"][1]["detail"]


def test_the_app_keeps_its_state_on_the_app(store):
    naive, optimised = create_app(store.engine, variant="naive"), create_app(store.engine)
    assert naive.state.engine is optimised.state.engine is store.engine
    assert naive.state.queries is queries.NAIVE and optimised.state.queries is queries.OPTIMISED
    assert (naive.state.variant, optimised.state.variant) == ("naive", "optimised")
    assert naive.state.sessions is not optimised.state.sessions
    with pytest.raises(ValueError, match="variant must be one of"):
        create_app(store.engine, variant="fast")


def test_the_app_accepts_other_queries(store):
    def no_books(session, genre=None, limit=20):
        return []

    custom = queries.Queries(
        no_books, queries.author_detail_optimised, queries.customer_orders_optimised, queries.top_books_optimised
    )
    app = create_app(store.engine, variant=custom)
    with app_client(app) as client:
        assert client.get("/books").json() == []
        assert client.get("/authors/1").status_code == 200
    assert app.state.variant == "custom"


def test_dates_are_served_as_iso_strings(store):
    with app_client(create_app(store.engine)) as client:
        order = client.get("/customers/3/orders?limit=1").json()[0]
    assert order["created_at"][:4].isdigit() and "T" in order["created_at"]
    assert order["total_cents"] == sum(line["quantity"] * line["unit_price_cents"] for line in order["lines"])


# --------------------------------------------------------------------------- backends


def test_both_backends_hold_the_same_data(store):
    """A checksum the PostgreSQL run of CI compares with the SQLite run: same seed, same rows."""
    with store.engine.connect() as connection:
        checksum = connection.execute(select(func.sum(OrderLine.quantity * OrderLine.unit_price_cents))).scalar()
        authors = connection.execute(select(func.count()).select_from(Author).where(Author.country == "GB")).scalar()
    rows = generate(SMALL, seed=5)
    assert checksum == sum(line["quantity"] * line["unit_price_cents"] for line in rows["order_lines"])
    assert authors == sum(a["country"] == "GB" for a in rows["authors"])


@pytest.mark.services
def test_real_postgresql_bookstore_lives_in_its_own_schema():
    required_url(DATABASE_ENV)
    with temporary_bookstore(Scale(authors=3, books=5, customers=5, reviews=5, orders=5), seed=1) as store:
        assert store.engine.dialect.name == "postgresql"
        with store.engine.connect() as connection:
            schema = connection.execute(text("SELECT current_schema()")).scalar()
            tables = connection.execute(
                text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s"), {"s": schema}
            ).scalar()
    assert schema.startswith("course_tmp_") and tables == len(TABLES)
