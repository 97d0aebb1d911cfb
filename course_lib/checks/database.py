"""Self-checks for the database exercises, in plain words (see :mod:`course_lib.checks`).

Each check raises :class:`course_lib.checks.CheckFailed` with an explanation and a hint when
something is wrong, and prints one ``✓`` line per thing that is right. They judge what the
database does (statements sent, the plan it chose, the rows it returned), never timings.
The query budget of an N+1 fix is :func:`course_lib.database.querycount.check_query_budget`;
:func:`check_loader` compares a loader with a reference under such a budget.

Exercise 03's self-checks open their own :func:`exercise_bookstore` and compare with the
references here (:func:`author_catalogue_reference`, :func:`order_summaries_reference`,
:func:`recent_orders`, :func:`catalogue_page_offset`), never with the notebook's copies,
which a student may change.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Index, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from course_lib.bookstore.data import Bookstore, Scale, analyze, temporary_bookstore
from course_lib.bookstore.explain import Plan, explain
from course_lib.bookstore.models import Author, Book, Order
from course_lib.checks import CheckFailed, check_equal, passed
from course_lib.database.querycount import Statement, check_query_budget, count_queries

__all__ = [
    "check_loader",
    "check_index_changes_plan",
    "check_keyset_pagination",
    "exercise_bookstore",
    "busiest_customer",
    "author_catalogue_reference",
    "order_summaries_reference",
    "recent_orders",
    "catalogue_page_offset",
]


def _fail(what: str, detail: str, hint: str = "") -> CheckFailed:
    lines = [f"✗ Check failed: {what}", f"  {detail}"]
    if hint:
        lines.append(f"  hint:     {hint}")
    return CheckFailed("\n".join(lines), what=what, hint=hint or None)


def _offset(statement: Statement) -> int:
    """The OFFSET a statement used (0 if none). SQLite's dialect always writes ``LIMIT ? OFFSET ?``."""
    match = re.search(r"\bOFFSET\s+(\?|%\((\w+)\)s|%s|\d+)", statement.sql, re.IGNORECASE)
    if match is None:
        return 0
    token, parameters = match.group(1), statement.parameters
    if token.isdigit():
        return int(token)
    if match.group(2):
        return int(parameters[match.group(2)])
    return int(parameters[statement.sql[: match.start()].count(token)])


def check_loader(
    loader: Callable[[Session, Any], Any],
    reference: Callable[[Session, Any], Any],
    store: Bookstore,
    argument: Any,
    *,
    budget: int,
    what: str | None = None,
    hint: str = "",
) -> Any:
    """``loader(session, argument)`` returns what ``reference(session, argument)`` returns, in at
    most ``budget`` statements. Each runs in a session of its own, so the loader finds nothing
    that the reference loaded. Returns what the loader returned.
    """
    with store.session() as session:
        expected = reference(session, argument)
    what = what or f"{getattr(loader, '__name__', 'your loader')}(session, {argument!r})"
    with store.session() as session:
        return check_query_budget(
            loader, session, argument, engine=store.engine, budget=budget, expected=expected, what=what, hint=hint
        )


def check_index_changes_plan(
    store: Bookstore, index: Any, query: Select, *, what: str = "your index", allow_sort: bool = False
) -> Plan:
    """Create ``index``, check that ``query`` then searches it (no full scan and, unless
    ``allow_sort``, no separate sort step), and drop it again, so the database is as it was
    whatever happens. Returns the new plan.

    Allow the sort where few rows match: sorting a handful of rows costs next to nothing, and
    PostgreSQL's planner may then rightly prefer a plan that sorts.
    """
    if index is None:
        raise _fail(
            what,
            "it is not defined yet: write it in the answer cell and run that cell",
            'for example Index("ix_name", Order.some_column, Order.other_column)',
        )
    if not isinstance(index, Index):
        raise _fail(
            what,
            f"expected a sqlalchemy Index, got {type(index).__name__}",
            'write for example Index("ix_name", Order.some_column, Order.other_column)',
        )
    table = query.get_final_froms()[0]
    if index.table is None or index.table.name != getattr(table, "name", None):
        raise _fail(
            what,
            f"the index is on table {getattr(index.table, 'name', None)!r}, "
            f"but the query reads {getattr(table, 'name', None)!r}",
            "index the table the query reads",
        )
    before = explain(store.engine, query)
    index.create(store.engine)
    try:
        analyze(store.engine)
        after = explain(store.engine, query)
    finally:
        index.drop(store.engine)
        analyze(store.engine)
    shown = "\n".join(f"    {line}" for line in after.lines)
    if not after.uses_index(index.name):
        raise _fail(
            what,
            f"the database does not use {index.name} for this query; its plan is:\n{shown}",
            "an index helps a query when its first columns are the ones the WHERE clause "
            "compares with = (here: which columns are those?)",
        )
    leading = getattr(index.expressions[0], "name", None)  # PostgreSQL can also test a later column of
    conditions = after.index_conditions(index.name)  # an index while reading all of it: a full scan
    if conditions and leading and not any(re.search(rf"\b{leading}\b", c) for c in conditions):
        raise _fail(
            what,
            f"the plan reads all of {index.name}, testing each entry, because its first column "
            f"({leading}) is not one the query compares with =:\n{shown}",
            "put the columns compared with = first in the index, so the database can jump to them",
        )
    if after.full_scans:
        raise _fail(
            what,
            f"the plan still reads all of {', '.join(after.full_scans)}:\n{shown}",
            "put the columns compared with = first in the index, so the database can jump to them",
        )
    if after.sorts and not allow_sort:
        raise _fail(
            what,
            f"the plan uses {index.name} but still sorts the rows afterwards:\n{shown}",
            "after the columns compared with =, add the ORDER BY column, so the index "
            "already holds the rows in that order",
        )
    was = "a full scan" if before.full_scans else "another plan"
    now = "an index search" + (" and a sort" if after.sorts else " without a sort")
    passed(f"{what} changes the plan from {was}{' with a sort' if before.sorts else ''} to {now}")
    return after


def check_keyset_pagination(
    store: Bookstore,
    keyset_page: Callable[..., list],
    offset_page: Callable[..., list],
    *,
    size: int,
    what: str = "keyset pagination",
    start_pages: Sequence[int] = (),
    pages: list | None = None,
) -> int:
    """Walk every page with ``keyset_page(session, after, size)`` (``after``: the last row of the
    previous page, or None) and compare each page with ``offset_page(session, page, size)``.

    Each keyset call must send exactly one statement, without ``OFFSET``. ``start_pages`` also
    starts walks in the middle (after the last row of those offset pages). Returns the number
    of pages; if ``pages`` is given, every page ``keyset_page`` returned is appended to it, as a
    list of tuples, in the order of the walks (what a check cell hands to ``probe``).
    """
    with store.session() as session:
        expected_pages = []
        while rows := offset_page(session, len(expected_pages), size):
            expected_pages.append([tuple(row) for row in rows])
    for start in (0, *start_pages):
        after = tuple(expected_pages[start - 1][-1]) if start else None
        for number in range(start, len(expected_pages) + 1):
            with store.session() as session, count_queries(store.engine) as log:
                try:
                    page = keyset_page(session, after, size)
                except NotImplementedError:
                    raise _fail(
                        what,
                        "it is not written yet: replace the `raise NotImplementedError(...)` "
                        "line with your code, then run that cell again",
                    ) from None
            if log.count != 1:
                raise _fail(what, f"page {number} took {log.count} statements; a page should take exactly one")
            if _offset(log.statements[0]):
                raise _fail(
                    what,
                    f"page {number} skipped rows with OFFSET: {' '.join(log.statements[0].sql.split())}",
                    "keyset pagination starts after the last row seen, with a WHERE condition on the sort key",
                )
            if pages is not None:
                pages.append([tuple(row) for row in page or []])
            expected = expected_pages[number] if number < len(expected_pages) else []
            check_equal(
                [tuple(row) for row in page or []],
                expected,
                quiet=True,
                what=f"page {number} (size {size}, after {after!r})",
                hint="rows must come in the same order as ORDER BY in the offset version; rows with "
                "equal sort values are ordered by id, so the condition must handle ties",
            )
            if not page:
                break
            after = tuple(page[-1])
    count = len(expected_pages)
    pages = f"all {count} pages of {size} match" if count != 1 else f"the one page of {size} matches"
    passed(
        f"{what}: {pages} OFFSET pagination, one statement each, no OFFSET"
        + (f" (also starting at pages {list(start_pages)})" if start_pages else "")
    )
    return len(expected_pages)


# --------------------------------------------------------------------------- exercise 03's data and references


def exercise_bookstore() -> AbstractContextManager[Bookstore]:
    """A temporary copy of exercise 03's bookstore: 60 authors, 500 books, 3,000 orders, seed 3.

    >>> with exercise_bookstore() as store:
    ...     store.counts["books"], busiest_customer(store)
    (500, 239)
    """
    return temporary_bookstore(Scale(authors=60, books=500, customers=400, reviews=4_000, orders=3_000), seed=3)


def busiest_customer(store: Bookstore) -> int:
    """The id of the customer with the most orders (the smallest such id on a tie)."""
    with store.engine.connect() as connection:
        query = (
            select(Order.customer_id)
            .group_by(Order.customer_id)
            .order_by(func.count().desc(), Order.customer_id)
            .limit(1)
        )
        return int(connection.execute(query).scalar_one())


def author_catalogue_reference(session: Session, country: str) -> list[dict[str, Any]]:
    """Authors from ``country`` (by name, then id), each with the titles of their books (by book id)."""
    query = select(Author).where(Author.country == country).order_by(Author.name, Author.id)
    return [
        {"author": author.name, "titles": [book.title for book in author.books]} for author in session.scalars(query)
    ]


def order_summaries_reference(session: Session, customer_id: int) -> list[dict[str, Any]]:
    """A customer's orders, newest first: copies bought, total in cents, and the titles (sorted)."""
    query = select(Order).where(Order.customer_id == customer_id).order_by(Order.created_at.desc(), Order.id.desc())
    return [
        {
            "order_id": order.id,
            "copies": sum(line.quantity for line in order.lines),
            "total_cents": sum(line.quantity * line.unit_price_cents for line in order.lines),
            "titles": sorted(line.book.title for line in order.lines),
        }
        for order in session.scalars(query)
    ]


def recent_orders(customer_id: int, status: str) -> Select:
    """The query of exercise 03, task (b): the five most recent orders of one customer with one status."""
    return (
        select(Order.id, Order.created_at)
        .where(Order.customer_id == customer_id, Order.status == status)
        .order_by(Order.created_at.desc())
        .limit(5)
    )


def catalogue_page_offset(session: Session, page: int, size: int) -> list[tuple[Any, ...]]:
    """Page ``page`` (0, 1, 2, ...) of the catalogue with OFFSET: most expensive first, equal prices by id."""
    query = (
        select(Book.id, Book.title, Book.price_cents)
        .order_by(Book.price_cents.desc(), Book.id)
        .offset(page * size)
        .limit(size)
    )
    return [tuple(row) for row in session.execute(query)]
