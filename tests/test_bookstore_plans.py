"""course_lib.bookstore.explain, .pool and .checks: query plans read alike on SQLite and
PostgreSQL, pools under a burst of clients, and the exercise's plan and pagination checks.

Plan parsing is tested on printed plans of both databases (no server needed); the rest runs
on whatever ``temporary_database()`` gives, SQLite locally and PostgreSQL in CI.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from sqlalchemy import Index, and_, create_engine, or_, select, text

from course_lib.backends import temporary_database
from course_lib.bookstore import Book, Order, Review, Scale, analyze, temporary_bookstore
from course_lib.bookstore.explain import Plan, explain, to_sql
from course_lib.bookstore.pool import checkout_burst, engine_with_pool
from course_lib.checks import CheckFailed
from course_lib.checks.database import (
    _offset,
    catalogue_page_offset,
    check_index_changes_plan,
    check_keyset_pagination,
    recent_orders,
)
from course_lib.database.querycount import Statement

# --------------------------------------------------------------------------- reading plans

PG_SEQ = ("Seq Scan on reviews  (cost=0.00..399.00 rows=4 width=10)", "  Filter: (book_id = 1)")
PG_BITMAP = (
    "Bitmap Heap Scan on reviews  (cost=4.32..18.40 rows=4 width=10) (actual time=0.02..0.03 rows=3 loops=1)",
    "  Recheck Cond: (book_id = 1)",
    "  ->  Bitmap Index Scan on ix_reviews_book_id  (cost=0.00..4.32 rows=4 width=0)",
    "        Index Cond: (book_id = 1)",
    "Planning Time: 0.114 ms",
    "Execution Time: 0.071 ms",
)
PG_TOP_N = (
    "Limit  (cost=248.76..248.77 rows=5 width=10)",
    "  ->  Sort  (cost=248.76..254.69 rows=2373 width=10)",
    "        Sort Key: created_on DESC",
    "        ->  Index Scan using ix_reviews_book_id on reviews  (cost=0.29..209.34 rows=2373 width=10)",
    "              Index Cond: (book_id = 1786)",
)
PG_OFFSET = (
    "Limit  (cost=1123.15..1124.28 rows=20 width=14)",
    "  ->  Index Scan Backward using ix_reviews_created_id on reviews  (cost=0.29..1124.28 rows=20000 width=14)",
)
PG_ONLY = (
    "Aggregate  (cost=69.68..69.69 rows=1 width=40)",
    "  ->  Index Only Scan using ix_reviews_book_rating on reviews  (cost=0.29..57.82 rows=2373 width=2)",
    "        Index Cond: (book_id = 1786)",
    "        Heap Fetches: 0",
)


def test_postgresql_plans():
    seq, bitmap, top_n = Plan("postgresql", PG_SEQ), Plan("postgresql", PG_BITMAP, True), Plan("postgresql", PG_TOP_N)
    assert (seq.full_scans, seq.uses_index(), seq.sorts, seq.index_only) == (["reviews"], False, False, False)
    assert bitmap.full_scans == [] and bitmap.uses_index("ix_reviews_book_id") and not bitmap.uses_index("other")
    assert bitmap.nodes() == ["Bitmap Heap Scan on reviews", "Bitmap Index Scan on ix_reviews_book_id"]
    assert bitmap.index_conditions("ix_reviews_book_id") == ["(book_id = 1)"]
    assert top_n.sorts and top_n.full_scans == [] and top_n.uses_index("ix_reviews_book_id")
    assert Plan("postgresql", PG_OFFSET).full_scans == ["reviews"], "an index scan without Index Cond reads it all"
    only = Plan("postgresql", PG_ONLY)
    assert only.index_only and not only.sorts and only.uses_index("ix_reviews_book_rating")
    assert str(seq) == seq.text == "\n".join(PG_SEQ)


def test_sqlite_plans():
    scan = Plan("sqlite", ("SCAN reviews",))
    ordered = Plan("sqlite", ("SCAN reviews USING INDEX ix_reviews_created_id",))
    search = Plan(
        "sqlite", ("SEARCH reviews USING INDEX ix_reviews_book_id (book_id=?)", "USE TEMP B-TREE FOR ORDER BY")
    )
    covering = Plan("sqlite", ("SEARCH reviews USING COVERING INDEX ix_reviews_book_rating (book_id=?)",))
    assert scan.full_scans == ["reviews"] and not scan.uses_index()
    assert ordered.full_scans == ["reviews"] and ordered.uses_index("ix_reviews_created_id")
    assert search.full_scans == [] and search.sorts and not search.index_only
    assert covering.index_only and covering.uses_index("ix_reviews_book_rating")
    assert covering.index_conditions("ix_reviews_book_rating") == []


def test_explain_a_real_sqlite_plan_and_literal_sql():
    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER, y TEXT)"))
        connection.execute(text("CREATE INDEX ix_t_x ON t (x)"))
    query = "SELECT id FROM t WHERE x = 3 ORDER BY y"
    plan = explain(engine, query)
    assert plan.dialect == "sqlite" and plan.uses_index("ix_t_x") and plan.sorts and not plan.analyzed
    with engine.connect() as connection:
        assert explain(connection, "SELECT id FROM t WHERE y = 'a'").full_scans == ["t"]
    assert to_sql(query, engine) == query
    with pytest.raises(ValueError, match="SQLite and PostgreSQL"):
        explain(SimpleNamespace(dialect=SimpleNamespace(name="mysql")), query)


def test_sqlite_plans_are_indented_like_a_tree():
    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE a (id INTEGER PRIMARY KEY, b INTEGER)"))
    plan = explain(engine, "SELECT id FROM a WHERE b IN (SELECT id FROM a WHERE b = 1)")
    assert plan.lines[0] == plan.lines[0].lstrip() and any(line.startswith("  ") for line in plan.lines)


# --------------------------------------------------------------------------- plans on the configured backend


@pytest.fixture(scope="module")
def store():
    with temporary_bookstore(Scale(authors=40, books=300, customers=200, reviews=4_000, orders=1_500), seed=8) as store:
        yield store


def test_an_index_changes_the_plan_on_any_backend(store):
    query = select(Review.id, Review.rating).where(Review.book_id == 3)
    before = explain(store.engine, query)
    index = Index("ix_test_reviews_book", Review.book_id)
    index.create(store.engine)
    try:
        analyze(store.engine)
        after = explain(store.engine, query, analyze=True)
    finally:
        index.drop(store.engine)
        Review.__table__.indexes.discard(index)
    assert before.full_scans == ["reviews"] and not before.uses_index()
    assert after.full_scans == [] and after.uses_index("ix_test_reviews_book")
    assert after.analyzed == (store.engine.dialect.name == "postgresql")
    if after.analyzed:
        assert any("actual time" in line for line in after.lines)


def test_to_sql_writes_the_values_in(store):
    sql = to_sql(select(Book.id).where(Book.genre == "poetry", Book.id < 10), store.engine)
    assert "'poetry'" in sql and "10" in sql and "?" not in sql and "%(" not in sql


# --------------------------------------------------------------------------- pools


def test_a_burst_within_the_pool_does_not_wait_and_beyond_it_waits_in_waves():
    # A client that waits for a connection waits until another gives one back: a whole hold or more.
    # Waits are compared with the hold: a busy machine delays a thread by milliseconds, far less than half a hold.
    hold = 0.1
    with temporary_database() as engine, engine_with_pool(engine, pool_size=2) as pooled:
        checkout_burst(pooled, clients=2, hold=hold)  # both connections opened, at the same time
        within = checkout_burst(pooled, clients=2, hold=hold)
        beyond = checkout_burst(pooled, clients=6, hold=hold)
    assert within.timeouts == beyond.timeouts == 0 and len(beyond.waits) == 6
    assert within.waits.max() < hold / 2, "a connection for everyone: nobody waits for one"
    assert beyond.waits.max() > 1.6 * hold, "the last two clients wait for two holds"


def test_pool_exhaustion_times_out_exactly_the_clients_beyond_size_and_overflow():
    before = threading.active_count()
    with temporary_database() as engine, engine_with_pool(engine, pool_size=2, max_overflow=1, timeout=0.05) as pooled:
        burst = checkout_burst(pooled, clients=6, hold=0.4)
    assert (len(burst.waits), burst.timeouts) == (3, 3)
    assert all(0.04 < w < 0.35 for w in burst.timeout_waits)
    assert threading.active_count() == before, "every client thread has ended"


def test_pool_arguments_are_checked():
    with temporary_database() as engine:
        with pytest.raises(ValueError, match="pool_size"):
            with engine_with_pool(engine, pool_size=0):
                pass


def test_a_failing_client_is_reported_after_all_threads_ended():
    with temporary_database() as engine, engine_with_pool(engine, pool_size=2) as pooled:
        with pytest.raises(Exception, match="no_such_table|does not exist"):
            checkout_burst(pooled, clients=3, hold=0, sql="SELECT * FROM no_such_table")


# --------------------------------------------------------------------------- the exercise's checks


def _busiest(store):
    with store.engine.connect() as connection:
        return connection.execute(
            select(Order.customer_id)
            .group_by(Order.customer_id)
            .order_by(text("count(*) DESC"), Order.customer_id)
            .limit(1)
        ).scalar_one()


def _indexes_on_orders(store):
    from sqlalchemy import inspect

    return inspect(store.engine).get_indexes("orders")


@pytest.mark.parametrize(
    ("columns", "problem"),
    [
        (("customer_id", "status", "created_at"), None),
        (("customer_id", "created_at"), None),
        (("customer_id",), "still sorts"),
        (("created_at",), "reads all of|does not use"),
        (("created_at", "customer_id"), "reads all of|does not use"),
    ],
)
def test_check_index_changes_plan(store, capsys, columns, problem):
    index = Index(f"ix_test_{'_'.join(columns)}", *(Order.__table__.c[c] for c in columns))
    try:
        if problem is None:
            check_index_changes_plan(store, index, recent_orders(_busiest(store), "delivered"))
            expected = "changes the plan from a full scan with a sort to an index search without a sort"
            assert expected in capsys.readouterr().out
        else:
            with pytest.raises(CheckFailed, match=problem):
                check_index_changes_plan(store, index, recent_orders(_busiest(store), "delivered"))
    finally:
        Order.__table__.indexes.discard(index)
    assert _indexes_on_orders(store) == [], "the check drops the index again"


def test_check_index_changes_plan_explains_wrong_inputs(store):
    with pytest.raises(CheckFailed, match="not defined yet"):
        check_index_changes_plan(store, None, recent_orders(1, "delivered"))
    with pytest.raises(CheckFailed, match="expected a sqlalchemy Index, got str"):
        check_index_changes_plan(store, "customer_id", recent_orders(1, "delivered"))
    on_books = Index("ix_test_books_genre", Book.genre)
    try:
        with pytest.raises(CheckFailed, match="on table 'books', but the query reads 'orders'"):
            check_index_changes_plan(store, on_books, recent_orders(1, "delivered"))
    finally:
        Book.__table__.indexes.discard(on_books)


def _keyset_page(session, after, size):
    query = select(Book.id, Book.title, Book.price_cents).order_by(Book.price_cents.desc(), Book.id).limit(size)
    if after is not None:
        query = query.where(or_(Book.price_cents < after[2], and_(Book.price_cents == after[2], Book.id > after[0])))
    return [tuple(row) for row in session.execute(query)]


def test_check_keyset_pagination_accepts_a_correct_walk(store, capsys):
    assert check_keyset_pagination(store, _keyset_page, catalogue_page_offset, size=40, start_pages=(2,)) == 8
    assert "all 8 pages of 40 match OFFSET pagination" in capsys.readouterr().out


def test_check_keyset_pagination_catches_offsets_ties_and_stubs(store):
    def with_offset(session, after, size):  # counts pages from the rows seen: still OFFSET
        ids = [row[0] for page in range(100) for row in catalogue_page_offset(session, page, size)]
        seen = 0 if after is None else ids.index(after[0]) + 1
        return [
            tuple(r)
            for r in session.execute(
                select(Book.id, Book.title, Book.price_cents)
                .order_by(Book.price_cents.desc(), Book.id)
                .offset(seen)
                .limit(size)
            )
        ]

    def ignores_ties(session, after, size):
        query = select(Book.id, Book.title, Book.price_cents).order_by(Book.price_cents.desc(), Book.id).limit(size)
        return [tuple(r) for r in session.execute(query if after is None else query.where(Book.price_cents < after[2]))]

    def stub(session, after, size):
        raise NotImplementedError

    with pytest.raises(CheckFailed, match="statements|OFFSET"):
        check_keyset_pagination(store, with_offset, catalogue_page_offset, size=40)
    with pytest.raises(CheckFailed, match="ties"):
        check_keyset_pagination(store, ignores_ties, catalogue_page_offset, size=40)
    with pytest.raises(CheckFailed, match="not written yet"):
        check_keyset_pagination(store, stub, catalogue_page_offset, size=40)


@pytest.mark.parametrize(
    ("sql", "parameters", "offset"),
    [
        ("SELECT x FROM t LIMIT ? OFFSET ?", (20, 0), 0),
        ("SELECT x FROM t WHERE a = ? LIMIT ? OFFSET ?", (1, 20, 40), 40),
        ("SELECT x FROM t LIMIT %(param_1)s::INTEGER OFFSET %(param_2)s::INTEGER", {"param_1": 20, "param_2": 60}, 60),
        ("SELECT x FROM t LIMIT 20 OFFSET 80", (), 80),
        ("SELECT x FROM t LIMIT %(param_1)s::INTEGER", {"param_1": 20}, 0),
    ],
)
def test_offset_is_read_from_the_statement(sql, parameters, offset):
    assert _offset(Statement(sql, parameters, 0.0)) == offset
