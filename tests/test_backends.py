"""course_lib.backends: embedded defaults, real services chosen by environment variable.

The tests marked ``services`` talk to a real PostgreSQL / Redis. They run when
COURSE_DATABASE_URL / COURSE_REDIS_URL is set and are skipped otherwise, except under
CI=true, where a missing URL is a failure: CI must never pass by silently skipping them.
"""

import uuid
from pathlib import Path

import pytest
from needs import required_url
from sqlalchemy import create_engine, text

from course_lib import backends
from course_lib.backends import (
    DATABASE_ENV,
    PROMETHEUS_ENV,
    REDIS_ENV,
    database_url,
    describe_backends,
    mask_password,
    prometheus_url,
    redis_client,
    redis_url,
    temporary_database,
)

ALL_VARS = (DATABASE_ENV, REDIS_ENV, PROMETHEUS_ENV)


@pytest.fixture
def embedded(monkeypatch):
    """No backend variable set, whatever the surrounding shell (or CI) has."""
    for var in ALL_VARS:
        monkeypatch.delenv(var, raising=False)


def _sqlite_path(engine) -> Path:
    return Path(engine.url.database)


# --- embedded defaults ------------------------------------------------------------------


def test_temporary_sqlite_file_exists_during_and_is_removed_after(embedded):
    with temporary_database() as engine:
        assert engine.dialect.name == "sqlite"
        path = _sqlite_path(engine)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            connection.execute(text("INSERT INTO t VALUES (1), (2)"))
        assert path.is_file(), "the SQLite database should be a real file while the context is open"
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 2
    assert not path.exists(), f"{path} should be deleted when the context ends"
    assert not path.parent.exists(), "the temporary directory should be deleted too"


def test_temporary_sqlite_file_is_removed_when_the_body_raises(embedded):
    with pytest.raises(RuntimeError, match="boom"):
        with temporary_database() as engine:
            path = _sqlite_path(engine)
            with engine.begin() as connection:
                connection.execute(text("CREATE TABLE t (x INTEGER)"))
            assert path.is_file()
            raise RuntimeError("boom")
    assert not path.exists()
    assert not path.parent.exists()


def test_each_temporary_database_starts_empty(embedded):
    with temporary_database() as first, temporary_database() as second:
        assert _sqlite_path(first) != _sqlite_path(second)
        with first.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
        with second.connect() as connection:
            tables = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).all()
        assert tables == []


def test_fakeredis_round_trip(embedded):
    with redis_client() as client:
        assert client.ping()
        client.set("course:greeting", "hello")
        assert client.get("course:greeting") == b"hello"
        assert client.incr("course:counter") == 1


def test_each_fakeredis_client_has_its_own_empty_server(embedded):
    with redis_client(decode_responses=True) as first, redis_client() as second:
        first.set("course:key", "value")
        assert first.get("course:key") == "value"
        assert second.get("course:key") is None


def test_redis_client_is_closed_on_exit_even_when_the_body_raises(embedded, monkeypatch):
    closed = []
    import fakeredis

    class RecordingRedis(fakeredis.FakeRedis):
        def close(self):
            closed.append(True)
            super().close()

    monkeypatch.setattr(fakeredis, "FakeRedis", RecordingRedis)
    with pytest.raises(KeyError):
        with redis_client():
            raise KeyError("x")
    assert closed, "redis_client() must close its client when the context ends"


# --- choosing by environment variable ---------------------------------------------------


def test_urls_are_none_without_variables(embedded):
    assert database_url() is None
    assert redis_url() is None
    assert prometheus_url() is None


def test_urls_come_from_the_variables(monkeypatch):
    monkeypatch.setenv(DATABASE_ENV, "postgresql://course:pw@127.0.0.1:5432/course")
    monkeypatch.setenv(REDIS_ENV, "redis://127.0.0.1:6379/0")
    monkeypatch.setenv(PROMETHEUS_ENV, "http://127.0.0.1:9090")
    assert database_url() == "postgresql://course:pw@127.0.0.1:5432/course"
    assert redis_url() == "redis://127.0.0.1:6379/0"
    assert prometheus_url() == "http://127.0.0.1:9090"


def test_an_empty_or_blank_variable_means_embedded(monkeypatch):
    monkeypatch.setenv(DATABASE_ENV, "")
    monkeypatch.setenv(REDIS_ENV, "   ")
    assert database_url() is None
    assert redis_url() is None


def test_an_explicit_mapping_overrides_the_process_environment(monkeypatch):
    monkeypatch.setenv(REDIS_ENV, "redis://127.0.0.1:6379/0")
    assert redis_url({}) is None
    assert redis_url({REDIS_ENV: "redis://127.0.0.1:6380/1"}) == "redis://127.0.0.1:6380/1"


def test_describe_backends_embedded(embedded):
    rows = describe_backends(check=True)
    assert [r.name for r in rows] == ["database", "redis", "prometheus"]
    assert [r.env_var for r in rows] == list(ALL_VARS)
    assert {r.kind for r in rows} == {"embedded"}
    assert all(r.ok is True and r.error == "" for r in rows), rows


def test_describe_backends_real_without_check_masks_passwords(monkeypatch):
    monkeypatch.setenv(DATABASE_ENV, "postgresql://course:s3cret@127.0.0.1:5432/course")
    monkeypatch.setenv(REDIS_ENV, "redis://:s3cret@127.0.0.1:6379/0")
    monkeypatch.delenv(PROMETHEUS_ENV, raising=False)
    rows = {r.name: r for r in describe_backends(check=False)}
    assert rows["database"].kind == "real" and rows["redis"].kind == "real"
    assert rows["prometheus"].kind == "embedded"
    assert rows["database"].url == "postgresql://course:***@127.0.0.1:5432/course"
    assert rows["redis"].url == "redis://:***@127.0.0.1:6379/0"
    assert all(r.ok is None for r in rows.values()), "check=False must not contact any server"
    assert "s3cret" not in repr(list(rows.values()))


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_servers_are_reported_not_raised(monkeypatch):
    port = _closed_port()
    monkeypatch.setenv(DATABASE_ENV, f"postgresql://course:s3cret@127.0.0.1:{port}/course")
    monkeypatch.setenv(REDIS_ENV, f"redis://:s3cret@127.0.0.1:{port}/0")
    monkeypatch.setenv(PROMETHEUS_ENV, f"http://127.0.0.1:{port}")
    rows = describe_backends(check=True)
    for row in rows:
        assert row.kind == "real"
        assert row.ok is False, f"{row.name} on a closed port should not answer"
        assert row.error, f"{row.name} should say why it did not answer"
        assert "s3cret" not in row.error and "s3cret" not in row.url


def test_malformed_urls_are_reported_not_raised(monkeypatch):
    monkeypatch.setenv(DATABASE_ENV, "not a url")
    monkeypatch.setenv(REDIS_ENV, "nonsense")
    monkeypatch.setenv(PROMETHEUS_ENV, "notaurl")
    assert all(row.ok is False and row.error for row in describe_backends(check=True))


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://course:s3cret@127.0.0.1:5432/course", "postgresql://course:***@127.0.0.1:5432/course"),
        (
            "postgresql+psycopg://u:p%40ss@db.example/x?sslmode=require",
            "postgresql+psycopg://u:***@db.example/x?sslmode=require",
        ),
        ("redis://:s3cret@localhost:6379/0", "redis://:***@localhost:6379/0"),
        ("redis://default:s3cret@localhost/0", "redis://default:***@localhost/0"),
        (
            "postgresql://course@127.0.0.1/course?password=s3cret&sslmode=disable",
            "postgresql://course@127.0.0.1/course?password=***&sslmode=disable",
        ),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("http://127.0.0.1:9090", "http://127.0.0.1:9090"),
    ],
)
def test_mask_password(url, masked):
    assert mask_password(url) == masked


def test_plain_postgresql_urls_use_psycopg3():
    assert backends._sqlalchemy_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert backends._sqlalchemy_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert backends._sqlalchemy_url("postgresql+psycopg://u@h/d") == "postgresql+psycopg://u@h/d"
    assert backends._sqlalchemy_url("sqlite:///x.db") == "sqlite:///x.db"


# --- real services (CI starts them; locally, set the URL to run these) ------------------


@pytest.mark.services
def test_real_postgresql_round_trip_in_a_schema_that_is_dropped_afterwards():
    url = required_url(DATABASE_ENV)
    with temporary_database() as engine, temporary_database() as neighbour:
        assert engine.dialect.name == "postgresql", f"{DATABASE_ENV} should name a PostgreSQL server"
        with engine.begin() as connection:
            schema = connection.execute(text("SELECT current_schema()")).scalar()
            connection.execute(text("CREATE TABLE t (x integer)"))
            connection.execute(text("INSERT INTO t VALUES (1), (2), (3)"))
        with engine.connect() as connection:
            assert connection.execute(text("SELECT sum(x) FROM t")).scalar() == 6
        with neighbour.connect() as connection:  # a second context sees nothing of the first
            assert connection.execute(text("SELECT to_regclass('t')")).scalar() is None
        left_open = engine.connect()  # a forgotten connection must not block the clean-up
        left_open.execute(text("SELECT count(*) FROM t"))
    assert schema.startswith("course_tmp_")
    check = create_engine(backends._sqlalchemy_url(url))
    try:
        with check.connect() as connection:
            found = connection.execute(
                text("SELECT count(*) FROM pg_namespace WHERE nspname = :schema"), {"schema": schema}
            ).scalar()
    finally:
        check.dispose()
    assert found == 0, f"the temporary schema {schema} should be dropped on exit"


@pytest.mark.services
def test_real_postgresql_is_described_as_real_and_answering():
    required_url(DATABASE_ENV)
    row = describe_backends(check=True)[0]
    assert (row.name, row.kind, row.ok) == ("database", "real", True), row


@pytest.mark.services
def test_real_redis_round_trip():
    required_url(REDIS_ENV)
    key = f"course:test:{uuid.uuid4().hex}"
    with redis_client() as client:
        assert not client.connection_pool.connection_class.__module__.startswith("fakeredis")
        assert client.ping()
        try:
            client.set(key, "hello", ex=60)
            assert client.get(key) == b"hello"
            assert client.incr(key + ":n") == 1
        finally:
            client.delete(key, key + ":n")


@pytest.mark.services
def test_real_redis_is_described_as_real_and_answering():
    required_url(REDIS_ENV)
    row = describe_backends(check=True)[1]
    assert (row.name, row.kind, row.ok) == ("redis", "real", True), row
