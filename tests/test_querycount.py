"""course_lib.database.querycount: counting statements, statement shapes, N+1 detection, slow-query log,
query-budget self-checks. Most tests use an in-memory SQLite engine (no server needed); the
ones at the end run on whatever ``temporary_database()`` gives, so CI exercises PostgreSQL."""

from __future__ import annotations

import logging
import threading

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import StaticPool

from course_lib.backends import temporary_database
from course_lib.checks import CheckFailed
from course_lib.database.querycount import (
    QueryLog,
    Repeat,
    Statement,
    check_query_budget,
    count_queries,
    detect_n_plus_one,
    slow_query_log,
    statement_shape,
)


@pytest.fixture
def engine():
    """An in-memory SQLite database with one small table, shared by all threads."""
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER)"))
        connection.execute(text("INSERT INTO t (x) VALUES (1), (2), (3)"))
    yield engine
    engine.dispose()


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    ("sql", "shape"),
    [
        ("SELECT *\n  FROM t   WHERE id = ?", "SELECT * FROM t WHERE id = ?"),
        ("SELECT * FROM t WHERE id = 42", "SELECT * FROM t WHERE id = ?"),
        ("SELECT * FROM t WHERE name = 'O''Brien'", "SELECT * FROM t WHERE name = ?"),
        ("SELECT * FROM t WHERE id = %(id_1)s::INTEGER", "SELECT * FROM t WHERE id = ?"),
        ("SELECT * FROM t WHERE id = $1", "SELECT * FROM t WHERE id = ?"),
        ("SELECT * FROM t WHERE id = :id", "SELECT * FROM t WHERE id = ?"),
        ("SELECT * FROM t WHERE id IN (?, ?, ?)", "SELECT * FROM t WHERE id IN (?)"),
        ("SELECT * FROM t WHERE id IN (%(k_1)s, %(k_2)s)", "SELECT * FROM t WHERE id IN (?)"),
        ("INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?)", "INSERT INTO t (a, b) VALUES (?)"),
        ("SELECT anon_1.id, b_1.x FROM books AS b_1 LIMIT 5", "SELECT anon_1.id, b_1.x FROM books AS b_1 LIMIT ?"),
    ],
)
def test_statement_shape(sql, shape):
    assert statement_shape(sql) == shape


def test_shapes_keep_identifiers_with_digits():
    assert statement_shape("SELECT t2.c1 FROM t2") == "SELECT t2.c1 FROM t2"


def test_detect_n_plus_one_reports_repeated_selects_only():
    selects = [Statement("SELECT * FROM t WHERE id = ?", (i,), 0.0) for i in range(4)]
    inserts = [Statement("INSERT INTO t (x) VALUES (?)", (i,), 0.0) for i in range(9)]
    once = [Statement("SELECT count(*) FROM t", (), 0.0)]
    assert detect_n_plus_one(selects + inserts + once) == [Repeat("SELECT * FROM t WHERE id = ?", 4)]
    assert detect_n_plus_one(selects, threshold=5) == []


def test_summary_lists_the_most_frequent_shapes():
    log = QueryLog([Statement("SELECT 1", (), 0.001)] * 3 + [Statement("SELECT x FROM t", (), 0.002)], commits=1)
    lines = log.summary().splitlines()
    assert lines[0] == "4 statements, 1 commit"
    assert lines[1].split() == ["3", "x", "SELECT", "?"]
    assert log.count == len(log) == 4 and log.seconds == pytest.approx(0.005)
    assert str(log) == log.summary()


# --------------------------------------------------------------------------- counting


def test_counts_statements_and_commits(engine):
    with count_queries(engine) as log:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t (x) VALUES (:x)"), [{"x": 4}, {"x": 5}])  # executemany
            connection.execute(text("UPDATE t SET x = x + 1"))
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 5
    assert log.count == 3 and log.commits == 1
    assert [s.many for s in log.statements] == [True, False, False]
    assert all(s.seconds >= 0 for s in log.statements)
    assert log.statements[0].parameters == ((4,), (5,)) or len(log.statements[0].parameters) == 2


def test_listeners_are_removed_after_the_block_even_on_error(engine):
    with pytest.raises(ZeroDivisionError):
        with count_queries(engine) as log:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            raise ZeroDivisionError
    with engine.connect() as connection:
        connection.execute(text("SELECT 2"))
    assert log.count == 1
    assert not event.contains(engine, "before_cursor_execute", lambda *a: None)
    assert not engine.dispatch.before_cursor_execute and not engine.dispatch.after_cursor_execute


def test_a_failing_statement_is_not_recorded_and_later_ones_are(engine):
    with count_queries(engine) as log, engine.connect() as connection:
        with pytest.raises(OperationalError):
            connection.execute(text("SELECT * FROM no_such_table"))
        connection.rollback()
        connection.execute(text("SELECT 1"))
    assert [s.sql for s in log.statements] == ["SELECT 1"]


def test_counts_statements_from_several_threads(engine):
    def work():
        with engine.connect() as connection:
            for _ in range(5):
                connection.execute(text("SELECT x FROM t WHERE id = 1")).all()

    with count_queries(engine) as log:
        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert log.count == 20
    assert log.repeated() == [Repeat("SELECT x FROM t WHERE id = ?", 20)]


def test_nested_logs_both_see_the_statements(engine):
    with count_queries(engine) as outer, engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        with count_queries(engine) as inner:
            connection.execute(text("SELECT 2"))
    assert (outer.count, inner.count) == (2, 1)


# --------------------------------------------------------------------------- slow-query log


def test_slow_query_log_keeps_statements_at_or_above_the_threshold(engine, caplog):
    logger = logging.getLogger("test.slow")
    with caplog.at_level(logging.WARNING, logger="test.slow"):
        with slow_query_log(engine, 0.0, logger=logger) as everything, engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            connection.execute(text("SELECT 2"))
        with slow_query_log(engine, 3600.0, logger=logger) as nothing, engine.connect() as connection:
            connection.execute(text("SELECT 3"))
    assert [s.sql for s in everything] == ["SELECT 1", "SELECT 2"] and nothing == []
    assert len(caplog.records) == 2 and "SELECT 1" in caplog.records[0].getMessage()


def test_slow_query_log_rejects_a_negative_threshold(engine):
    with pytest.raises(ValueError, match="seconds"):
        with slow_query_log(engine, -1):
            pass


# --------------------------------------------------------------------------- self-check


def _lookups(connection, n):
    return [connection.execute(text("SELECT x FROM t WHERE id = :i"), {"i": i}).scalar() for i in range(1, n + 1)]


def test_check_query_budget_passes_and_returns_the_result(engine, capsys):
    with engine.connect() as connection:
        result = check_query_budget(
            _lookups, connection, 2, engine=engine, budget=2, expected=[1, 2], what="two lookups"
        )
    assert result == [1, 2]
    expected = "✓ two lookups issued 2 queries (budget 2) and returned the expected result"
    assert capsys.readouterr().out.strip() == expected


def test_check_query_budget_explains_an_n_plus_one(engine):
    with engine.connect() as connection, pytest.raises(CheckFailed) as failure:
        check_query_budget(_lookups, connection, 3, engine=engine, budget=1, what="loader", hint="load all at once")
    message = str(failure.value)
    assert "loader issued 3 queries; the budget is 1" in message
    assert "the same query ran 3 times: SELECT x FROM t WHERE id = ?" in message
    assert "hint:     load all at once" in message
    assert (failure.value.expected, failure.value.actual) == (1, 3)


def test_check_query_budget_compares_results_and_explains_a_stub(engine):
    with engine.connect() as connection, pytest.raises(CheckFailed, match="the result of"):
        check_query_budget(_lookups, connection, 2, engine=engine, budget=5, expected=[1, 3])

    def stub(*args):
        raise NotImplementedError("Not solved yet")

    with pytest.raises(CheckFailed, match="not written yet"):
        check_query_budget(stub, engine=engine, budget=1)


# --------------------------------------------------------------------------- any backend


def test_counting_works_on_the_configured_backend():
    """Runs on SQLite locally and on PostgreSQL in CI (COURSE_DATABASE_URL): same counts."""
    with temporary_database() as engine:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, x INTEGER)"))
        with count_queries(engine) as log:
            with engine.begin() as connection:
                connection.execute(
                    text("INSERT INTO items (id, x) VALUES (:id, :x)"), [{"id": i, "x": i * i} for i in range(1, 51)]
                )
            with engine.connect() as connection:
                for i in range(1, 11):
                    connection.execute(text("SELECT x FROM items WHERE id = :id"), {"id": i}).scalar()
    assert (log.count, log.commits) == (11, 1)
    assert log.statements[0].many
    assert log.repeated() == [Repeat("SELECT x FROM items WHERE id = ?", 10)]
