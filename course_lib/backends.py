"""Where the course's services come from: embedded defaults, real servers on request.

This is the one place that decides. With no environment variable set, everything runs in
the notebook's own process: SQLite in a temporary file, fakeredis, and (from module 05 on)
an in-process Prometheus registry. Set a variable to use a real server instead:

=========================  ============================  ==============================
variable                   real service                  embedded default
=========================  ============================  ==============================
``COURSE_DATABASE_URL``    PostgreSQL (any SQLAlchemy    SQLite in a temporary file
                           URL works)
``COURSE_REDIS_URL``       Redis                         fakeredis, one fresh server
``COURSE_PROMETHEUS_URL``  a Prometheus server           in-process registry
=========================  ============================  ==============================

The variables are read each time a function here is called (not at import), and an empty
value counts as unset. Services are context managers that always clean up:

>>> with temporary_database() as engine, engine.connect() as connection:
...     connection.exec_driver_sql("SELECT 1 + 1").scalar()
2
>>> with redis_client(decode_responses=True) as redis:
...     redis.set("greeting", "hello")
...     redis.get("greeting")
True
'hello'
"""

from __future__ import annotations

import os
import re
import tempfile
import urllib.request
import uuid
import warnings
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:  # imported lazily at run time: a broken driver must not break the import
    import redis
    from sqlalchemy.engine import Engine

DATABASE_ENV = "COURSE_DATABASE_URL"
REDIS_ENV = "COURSE_REDIS_URL"
PROMETHEUS_ENV = "COURSE_PROMETHEUS_URL"

#: Seconds to wait for a real server before reporting that it did not answer.
CHECK_TIMEOUT = 2.0


@dataclass(frozen=True)
class BackendInfo:
    """One row of the backends table: what is in use, and whether it answered."""

    name: str  #: "database", "redis" or "prometheus"
    kind: Literal["embedded", "real"]
    env_var: str  #: the variable that selects the real service
    url: str  #: where it is, with any password replaced by ``***``
    ok: bool | None = None  #: True/False when checked, None when not checked
    error: str = ""  #: why the check failed, in the driver's words


def _configured(var: str, environ: Mapping[str, str] | None) -> str | None:
    value = (os.environ if environ is None else environ).get(var, "").strip()
    return value or None


def database_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The database URL from ``COURSE_DATABASE_URL``, or None for the embedded SQLite default."""
    return _configured(DATABASE_ENV, environ)


def redis_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The Redis URL from ``COURSE_REDIS_URL``, or None for the embedded fakeredis default."""
    return _configured(REDIS_ENV, environ)


def prometheus_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The Prometheus URL from ``COURSE_PROMETHEUS_URL``, or None for the in-process registry."""
    return _configured(PROMETHEUS_ENV, environ)


def mask_password(url: str) -> str:
    """``url`` with the password (in the user part or a ``password=`` parameter) as ``***``.

    >>> mask_password("postgresql://course:s3cret@127.0.0.1:5432/course")
    'postgresql://course:***@127.0.0.1:5432/course'
    >>> mask_password("redis://:s3cret@localhost:6379/0")
    'redis://:***@localhost:6379/0'
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:***@{hostport}"
    query = re.sub(r"(?i)(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _sqlalchemy_url(url: str) -> str:
    """Let plain ``postgresql://`` URLs use psycopg 3 (SQLAlchemy's default is psycopg2)."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return url


@contextmanager
def _temporary_sqlite(echo: bool = False) -> Iterator[Engine]:
    from sqlalchemy import create_engine

    with tempfile.TemporaryDirectory(prefix="course-db-", ignore_cleanup_errors=True) as directory:
        engine = create_engine(f"sqlite:///{Path(directory) / 'course.sqlite3'}", echo=echo)
        try:
            yield engine
        finally:
            engine.dispose()  # close the file before its directory is removed


@contextmanager
def temporary_database(url: str | None = None, *, echo: bool = False) -> Iterator[Engine]:
    """A SQLAlchemy engine on a fresh, empty database that is removed on exit.

    ``url`` defaults to ``COURSE_DATABASE_URL``. Without one, the database is SQLite in a
    fresh temporary directory, deleted on exit (also when the body raises). On PostgreSQL
    the engine works in a new schema (its ``search_path``) that is dropped on exit, so
    notebooks running side by side on one server never see each other's tables. Other
    URLs are used as they are (neither emptied nor cleaned up). ``echo=True`` logs every
    SQL statement.
    """
    from sqlalchemy import create_engine

    url = url or database_url()
    if url is None:
        with _temporary_sqlite(echo) as engine:
            yield engine
        return

    url = _sqlalchemy_url(url)
    if not url.startswith("postgresql"):
        engine = create_engine(url, echo=echo)
        try:
            yield engine
        finally:
            engine.dispose()
        return

    schema = f"course_tmp_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, connect_args={"connect_timeout": int(CHECK_TIMEOUT)})
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        # application_name tags the connections so that clean-up can find any left open
        options = {"options": f"-c search_path={schema}", "application_name": schema}
        engine = create_engine(url, echo=echo, connect_args=options)
        try:
            yield engine
        finally:
            engine.dispose()
            _drop_schema(admin, schema)
    finally:
        admin.dispose()


def _drop_schema(admin: Engine, schema: str) -> None:
    """Close connections left open in the schema, then drop it; warn (never hang) on failure."""
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %(schema)s AND pid <> pg_backend_pid()",
                {"schema": schema},
            )
            connection.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    except Exception as error:
        warnings.warn(
            f"could not drop the temporary schema {schema} ({_error_text(error)}); "
            f'drop it by hand with DROP SCHEMA "{schema}" CASCADE',
            RuntimeWarning,
            stacklevel=3,
        )


@contextmanager
def redis_client(url: str | None = None, **kwargs: Any) -> Iterator[redis.Redis]:
    """A Redis client, closed on exit.

    ``url`` defaults to ``COURSE_REDIS_URL``. Without one, the client talks to a fresh,
    empty fakeredis server private to this context. ``kwargs`` go to the client, e.g.
    ``decode_responses=True`` to get ``str`` instead of ``bytes``. On a real server the
    keys you write stay there: use a key prefix of your own and delete what you create.
    """
    url = url or redis_url()
    if url is None:
        import fakeredis

        client = fakeredis.FakeRedis(server=fakeredis.FakeServer(), **kwargs)
    else:
        import redis as redis_lib

        kwargs.setdefault("socket_connect_timeout", CHECK_TIMEOUT)
        client = redis_lib.Redis.from_url(url, **kwargs)
    try:
        yield client
    finally:
        client.close()


def _error_text(error: BaseException) -> str:
    text = re.sub(r"\s*\(Background on this error at: [^)]*\)", "", " ".join(str(error).split()))
    return f"{type(error).__name__}: {text}"


def _check_database(url: str | None) -> str:
    """'' if ``SELECT 1`` works on the configured (or embedded) database, else the error."""
    try:
        from sqlalchemy import create_engine

        if url is None:  # the real thing: a SQLite file in a temporary directory
            with _temporary_sqlite() as engine, engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1").scalar()
            return ""
        timeout = {"connect_timeout": int(CHECK_TIMEOUT)} if _sqlalchemy_url(url).startswith("postgresql") else {}
        engine = create_engine(_sqlalchemy_url(url), connect_args=timeout)
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1").scalar()
        finally:
            engine.dispose()
    except Exception as error:  # any failure is a finding to report, not a crash
        return _error_text(error)
    return ""


def _check_redis(url: str | None) -> str:
    options = {"socket_timeout": CHECK_TIMEOUT} if url else {}
    try:
        with redis_client(url, **options) as client:
            client.ping()
    except Exception as error:
        return _error_text(error)
    return ""


def _check_prometheus(url: str | None) -> str:
    if url is None:  # the in-process registry needs no server
        return ""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/-/healthy", timeout=CHECK_TIMEOUT) as response:
            response.read(200)
    except Exception as error:
        return _error_text(error)
    return ""


def describe_backends(check: bool = True, environ: Mapping[str, str] | None = None) -> list[BackendInfo]:
    """Which backend each service uses, and (``check=True``) whether it answered.

    The check runs ``SELECT 1`` on the database, ``PING`` on Redis and ``GET /-/healthy`` on
    Prometheus, each waiting at most ``CHECK_TIMEOUT`` seconds. It never raises: a server
    that does not answer shows up as ``ok=False`` with the error text.
    """
    services = (
        ("database", DATABASE_ENV, "sqlite:///<temporary file>", _check_database),
        ("redis", REDIS_ENV, "fakeredis (in-process)", _check_redis),
        ("prometheus", PROMETHEUS_ENV, "in-process registry", _check_prometheus),
    )
    urls = [_configured(var, environ) for _, var, _, _ in services]
    errors = [""] * len(services)
    if check:  # in parallel, so three silent servers cost one timeout, not three
        with ThreadPoolExecutor(max_workers=len(services)) as pool:
            errors = list(pool.map(lambda probe, url: probe(url), [s[3] for s in services], urls))
    return [
        BackendInfo(
            name=name,
            kind="real" if url else "embedded",
            env_var=var,
            url=mask_password(url) if url else embedded_url,
            ok=(not error) if check else None,
            error=error.replace(url, mask_password(url)) if url else error,
        )
        for (name, var, embedded_url, _), url, error in zip(services, urls, errors)
    ]
