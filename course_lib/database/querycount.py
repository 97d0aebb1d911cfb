"""Count the SQL statements a block of code sends to the database, and spot N+1 patterns.

An ORM hides its queries: touching ``author.books`` may send one more ``SELECT``, and a loop
over a hundred authors sends a hundred. :func:`count_queries` listens to SQLAlchemy's
``before_cursor_execute``/``after_cursor_execute`` engine events and records every statement
the block issues, with its parameters and how long the driver took to run it:

>>> from sqlalchemy import create_engine, text
>>> engine = create_engine("sqlite://")
>>> with count_queries(engine) as log, engine.connect() as connection:
...     for i in range(3):
...         _ = connection.execute(text("SELECT :x + 1"), {"x": i}).scalar()
>>> log.count
3
>>> log.repeated()          # the same statement shape three times: the N+1 signature
[Repeat(shape='SELECT ? + ?', count=3)]

A *statement* is one call of the driver's ``execute`` or ``executemany``: one round trip
to the database. Transaction control that the driver does itself (``BEGIN``, ``COMMIT``) is
not a statement; commits are counted separately in :attr:`QueryLog.commits`.

:func:`slow_query_log` records only the statements slower than a threshold, and
:func:`check_query_budget` turns a query count into a plain-words self-check.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

__all__ = [
    "Statement",
    "Repeat",
    "QueryLog",
    "count_queries",
    "statement_shape",
    "detect_n_plus_one",
    "slow_query_log",
    "check_query_budget",
]

#: A shape repeated this many times or more in one block is reported as a likely N+1.
N_PLUS_ONE_THRESHOLD = 3


@dataclass(frozen=True)
class Statement:
    """One statement as the driver received it."""

    sql: str
    parameters: Any = field(repr=False)
    seconds: float  #: time spent in the driver's execute call (rows fetched later are not included)
    many: bool = False  #: True for ``executemany`` (one round trip, many parameter sets)

    @property
    def shape(self) -> str:
        """The SQL with literals and parameters replaced by ``?``: see :func:`statement_shape`."""
        return statement_shape(self.sql)


class Repeat(NamedTuple):
    """A statement shape and how many times a block issued it."""

    shape: str
    count: int


_PLACEHOLDER = re.compile(r"%\(\w+\)s|%s|\$\d+|(?<![:\w]):\w+|\?")
_CAST = re.compile(r"\?::\w+(\[\])?")
_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w.$])-?\d+(?:\.\d+)?\b")
_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)*\s*\)")
_ROWS = re.compile(r"\(\?\)(?:\s*,\s*\(\?\))+")


def statement_shape(sql: str) -> str:
    """``sql`` with whitespace collapsed, literals and placeholders replaced by ``?``, and
    lists such as ``IN (?, ?, ?)`` collapsed to ``IN (?)``.

    Two statements with the same shape differ only in their values, so a shape that
    repeats many times in one request is the signature of an N+1 query.

    >>> statement_shape("SELECT * FROM books\\n WHERE id IN (%(id_1)s, %(id_2)s) AND genre = 'poetry'")
    'SELECT * FROM books WHERE id IN (?) AND genre = ?'
    >>> statement_shape("SELECT name FROM t WHERE id = ?") == statement_shape("SELECT name FROM t WHERE id = 7")
    True
    """
    shape = " ".join(sql.split())
    shape = _STRING.sub("?", shape)
    shape = _PLACEHOLDER.sub("?", shape)
    shape = _NUMBER.sub("?", shape)
    shape = _CAST.sub("?", shape)
    shape = _LIST.sub("(?)", shape)
    return _ROWS.sub("(?)", shape)


def detect_n_plus_one(statements: list[Statement], threshold: int = N_PLUS_ONE_THRESHOLD) -> list[Repeat]:
    """The ``SELECT`` shapes issued at least ``threshold`` times, most repeated first.

    >>> detect_n_plus_one([Statement("SELECT * FROM t WHERE id = ?", (i,), 0.0) for i in range(5)])
    [Repeat(shape='SELECT * FROM t WHERE id = ?', count=5)]
    """
    counts = Counter(s.shape for s in statements if s.sql.lstrip()[:6].upper() == "SELECT")
    return [Repeat(shape, n) for shape, n in counts.most_common() if n >= threshold]


@dataclass
class QueryLog:
    """What a block sent to the database: its statements in order, and its commits."""

    statements: list[Statement] = field(default_factory=list)
    commits: int = 0

    @property
    def count(self) -> int:
        """How many statements (round trips) the block issued."""
        return len(self.statements)

    def __len__(self) -> int:
        return len(self.statements)

    @property
    def seconds(self) -> float:
        """Total time spent in the driver's execute calls."""
        return sum(s.seconds for s in self.statements)

    def shapes(self) -> Counter[str]:
        """How often each statement shape was issued."""
        return Counter(s.shape for s in self.statements)

    def repeated(self, threshold: int = N_PLUS_ONE_THRESHOLD) -> list[Repeat]:
        """Likely N+1 patterns: ``SELECT`` shapes issued at least ``threshold`` times."""
        return detect_n_plus_one(self.statements, threshold)

    def summary(self, limit: int = 5) -> str:
        """A few lines for a person: the count, then the most frequent shapes.

        >>> print(QueryLog([Statement("SELECT 1", (), 0.0)] * 2).summary())
        2 statements, 0 commits
             2 x SELECT ?
        """
        lines = [
            f"{self.count} statement{'s' if self.count != 1 else ''}, "
            f"{self.commits} commit{'s' if self.commits != 1 else ''}"
        ]
        for shape, n in self.shapes().most_common(limit):
            lines.append(f"{n:>6} x {_shorten(shape)}")
        if len(self.shapes()) > limit:
            lines.append(f"       ... and {len(self.shapes()) - limit} other shapes")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _shorten(text: str, width: int = 110) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


@contextmanager
def _listening(
    target: Engine | Connection, on_statement: Callable[[Statement], None], on_commit: Callable[[], None] | None = None
) -> Iterator[None]:
    """Call ``on_statement`` for every statement executed on ``target`` inside the block."""
    local = threading.local()  # start times, per thread: statements may run in several threads

    def before(conn, cursor, statement, parameters, context, executemany):
        local.__dict__.setdefault("starts", []).append(time.perf_counter())

    def after(conn, cursor, statement, parameters, context, executemany):
        started = local.starts.pop()
        on_statement(Statement(statement, parameters, time.perf_counter() - started, bool(executemany)))

    def commit(conn):
        on_commit()

    event.listen(target, "before_cursor_execute", before)
    event.listen(target, "after_cursor_execute", after)
    if on_commit is not None:
        event.listen(target, "commit", commit)
    try:
        yield
    finally:
        event.remove(target, "before_cursor_execute", before)
        event.remove(target, "after_cursor_execute", after)
        if on_commit is not None:
            event.remove(target, "commit", commit)


@contextmanager
def count_queries(target: Engine | Connection) -> Iterator[QueryLog]:
    """Record every statement and commit on ``target`` (an engine, or one connection) in the block.

    Sessions and connections made from the engine are included, in every thread. The log is
    filled while the block runs; read it after the block. A statement that raises is not
    recorded (SQLAlchemy sends no ``after_cursor_execute`` for it).
    """
    log = QueryLog()
    lock = threading.Lock()

    def record(statement: Statement) -> None:
        with lock:
            log.statements.append(statement)

    def commit() -> None:
        with lock:
            log.commits += 1

    with _listening(target, record, commit):
        yield log


@contextmanager
def slow_query_log(
    target: Engine | Connection, threshold: float, logger: logging.Logger | None = None
) -> Iterator[list[Statement]]:
    """Collect, and log as warnings, the statements that take ``threshold`` seconds or longer.

    The same idea as PostgreSQL's ``log_min_duration_statement`` setting, measured in the
    application (so it includes the network round trip). ``logger`` defaults to the
    ``course_lib.database.querycount`` logger.

    >>> from sqlalchemy import create_engine, text
    >>> engine = create_engine("sqlite://")
    >>> with slow_query_log(engine, threshold=10.0) as slow, engine.connect() as connection:
    ...     _ = connection.execute(text("SELECT 1")).all()
    >>> slow
    []
    """
    if threshold < 0:
        raise ValueError(f"threshold is in seconds and must be >= 0, got {threshold!r}")
    logger = logger or logging.getLogger(__name__)
    slow: list[Statement] = []

    def record(statement: Statement) -> None:
        if statement.seconds >= threshold:
            slow.append(statement)
            logger.warning(
                "slow query (%.1f ms >= %.1f ms): %s",
                statement.seconds * 1e3,
                threshold * 1e3,
                _shorten(" ".join(statement.sql.split()), 200),
            )

    with _listening(target, record):
        yield slow


def check_query_budget(
    func: Callable[..., Any],
    *args: Any,
    engine: Engine,
    budget: int,
    expected: Any = None,
    what: str | None = None,
    hint: str = "",
) -> Any:
    """A self-check: ``func(*args)`` issues at most ``budget`` statements and returns ``expected``.

    On failure raises :class:`course_lib.checks.CheckFailed` that says how many statements
    were issued, which shape repeated, and ``hint``; on success prints one ``✓`` line.
    ``expected=None`` skips the comparison of results. Returns what ``func`` returned.
    """
    from course_lib.checks import CheckFailed, check_equal, passed

    what = what or f"{getattr(func, '__name__', 'your function')}(...)"
    with count_queries(engine) as log:
        try:
            result = func(*args)
        except NotImplementedError:
            raise CheckFailed(
                f"✗ Check failed: {what}\n  it is not written yet: replace the "
                "`raise NotImplementedError(...)` line with your code, then run that cell again",
                what=what,
                hint=hint or None,
            ) from None
    if log.count > budget:
        lines = [f"✗ Check failed: {what} issued {log.count} queries; the budget is {budget}"]
        if repeats := log.repeated():
            lines.append(f"  the same query ran {repeats[0].count} times: {_shorten(repeats[0].shape, 160)}")
            lines.append("  that is an N+1 pattern: one query per row instead of one query for all rows")
        else:
            lines += [f"  {_shorten(shape, 160)}" for shape in log.shapes()]
        if hint:
            lines.append(f"  hint:     {hint}")
        raise CheckFailed("\n".join(lines), what=what, expected=budget, actual=log.count, hint=hint or None)
    if expected is not None:
        check_equal(
            result,
            expected,
            what=f"the result of {what}",
            hint="compare with the naive version: same rows, same order, same values",
            quiet=True,
        )
    passed(
        f"{what} issued {log.count} quer{'y' if log.count == 1 else 'ies'} (budget {budget})"
        + (" and returned the expected result" if expected is not None else "")
    )
    return result
