"""Exercise 03 graded for real with answers students write: honest alternatives earn every point,
and a wrong answer that ignores one clause of a task loses the check that covers the clause.

Each notebook is the solution with some answer cells replaced (by grade id); one notebook carries
one answer per task, so that a few gradings cover many answers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from grading_fixtures import outcomes_with_answers

ROOT = Path(__file__).resolve().parents[1]
NAME = "03_database_optimization"

_IMPORTS = (
    "from sqlalchemy import and_, func, or_, select, tuple_\nfrom sqlalchemy.orm import joinedload, selectinload\n"
)
_OFFSET_PAGE = (
    "def catalogue_page_keyset(session, after, size=PAGE_SIZE):\n"
    "    query = select(Book.id, Book.title, Book.price_cents).order_by(Book.price_cents.desc(), Book.id).limit(size)\n"
    "    {condition}\n"
    "    return [tuple(row) for row in session.execute(query)]\n"
)


def _keyset(condition: str) -> str:
    return _OFFSET_PAGE.format(condition=condition)


def _loaders(catalogue: str, summaries: str) -> str:
    return _IMPORTS + catalogue + "\n\n" + summaries


# --------------------------------------------------------------------------- honest alternatives

JOINED_CATALOGUE = """
def author_catalogue(session, country):
    query = (select(Author).where(Author.country == country).order_by(Author.name, Author.id)
             .options(joinedload(Author.books)))
    return [{"author": a.name, "titles": [b.title for b in a.books]} for a in session.scalars(query).unique()]
"""
SELECTIN_SUMMARIES = """
def order_summaries(session, customer_id):
    query = (select(Order).where(Order.customer_id == customer_id)
             .order_by(Order.created_at.desc(), Order.id.desc())
             .options(selectinload(Order.lines).selectinload(OrderLine.book)))
    result = []
    for order in session.scalars(query):
        lines = list(order.lines)
        result.append({"order_id": order.id, "copies": sum(l.quantity for l in lines),
                       "total_cents": sum(l.quantity * l.unit_price_cents for l in lines),
                       "titles": sorted(l.book.title for l in lines)})
    return result
"""
SQL_CATALOGUE = """
def author_catalogue(session, country):
    authors = session.execute(select(Author.id, Author.name).where(Author.country == country)
                              .order_by(Author.name, Author.id)).all()
    titles = {author_id: [] for author_id, _ in authors}
    rows = session.execute(select(Book.author_id, Book.title).where(Book.author_id.in_(list(titles)))
                           .order_by(Book.id)) if titles else []
    for author_id, title in rows:
        titles[author_id].append(title)
    return [{"author": name, "titles": titles[author_id]} for author_id, name in authors]
"""
SQL_SUMMARIES = """
def order_summaries(session, customer_id):
    orders = session.scalars(select(Order.id).where(Order.customer_id == customer_id)
                             .order_by(Order.created_at.desc(), Order.id.desc())).all()
    lines = session.execute(select(OrderLine.order_id, OrderLine.quantity, OrderLine.unit_price_cents, Book.title)
                            .join(Book, Book.id == OrderLine.book_id)
                            .where(OrderLine.order_id.in_(orders))) if orders else []
    summary = {order_id: {"order_id": order_id, "copies": 0, "total_cents": 0, "titles": []} for order_id in orders}
    for order_id, quantity, price, title in lines:
        summary[order_id]["copies"] += quantity
        summary[order_id]["total_cents"] += quantity * price
        summary[order_id]["titles"].append(title)
    for entry in summary.values():
        entry["titles"].sort()
    return [summary[order_id] for order_id in orders]
"""
KEYSET_TUPLE = _keyset(
    "if after is not None:\n"
    "        query = query.where(tuple_(-Book.price_cents, Book.id) > tuple_(-after[2], after[0]))"
)
KEYSET_TWO_WHERES = _keyset(
    "if after:\n"
    "        query = query.where(Book.price_cents <= after[2]).where("
    "or_(Book.price_cents < after[2], Book.id > after[0]))"
)

# --------------------------------------------------------------------------- wrong answers

SORTED_TITLES_CATALOGUE = """
def author_catalogue(session, country):
    query = (select(Author).where(Author.country == country).order_by(Author.name, Author.id)
             .options(selectinload(Author.books)))
    return [{"author": a.name, "titles": sorted(b.title for b in a.books)} for a in session.scalars(query)]
"""
INNER_JOIN_CATALOGUE = """
def author_catalogue(session, country):
    rows = session.execute(select(Author.id, Author.name, Book.title).join(Book, Book.author_id == Author.id)
                           .where(Author.country == country).order_by(Author.name, Author.id, Book.id))
    result, last = [], None
    for author_id, name, title in rows:
        if author_id != last:
            result.append({"author": name, "titles": []})
            last = author_id
        result[-1]["titles"].append(title)
    return result
"""
NO_TIE_SUMMARIES = SELECTIN_SUMMARIES.replace(
    ".order_by(Order.created_at.desc(), Order.id.desc())", ".order_by(Order.created_at.desc())"
)
INNER_JOIN_SUMMARIES = """
def order_summaries(session, customer_id):
    rows = session.execute(select(Order.id, OrderLine.quantity, OrderLine.unit_price_cents, Book.title)
                           .join(OrderLine, OrderLine.order_id == Order.id).join(Book, Book.id == OrderLine.book_id)
                           .where(Order.customer_id == customer_id)
                           .order_by(Order.created_at.desc(), Order.id.desc()))
    result = {}
    for order_id, quantity, price, title in rows:
        entry = result.setdefault(order_id, {"order_id": order_id, "copies": 0, "total_cents": 0, "titles": []})
        entry["copies"] += quantity
        entry["total_cents"] += quantity * price
        entry["titles"].append(title)
    for entry in result.values():
        entry["titles"].sort()
    return list(result.values())
"""
NAIVE_CATALOGUE = """
def author_catalogue(session, country):
    return author_catalogue_naive(session, country)
"""
NAIVE_SUMMARIES = """
def order_summaries(session, customer_id):
    return order_summaries_naive(session, customer_id)
"""
SOLUTION_CATALOGUE = JOINED_CATALOGUE
KEYSET_NO_TIES = _keyset("if after is not None:\n        query = query.where(Book.price_cents < after[2])")
KEYSET_WRONG_DIRECTION = _keyset(
    "if after is not None:\n"
    "        query = query.where(or_(Book.price_cents < after[2],\n"
    "                                and_(Book.price_cents == after[2], Book.id < after[0])))"
)
KEYSET_WITH_OFFSET = _keyset(
    "if after is not None:\n"
    "        seen = session.scalar(select(func.count()).select_from(Book).where(or_(Book.price_cents > after[2],\n"
    "                              and_(Book.price_cents == after[2], Book.id <= after[0]))))\n"
    "        query = query.offset(seen)"
)

ALL_CHECKS = (
    "catalogue_visible orders_visible loaders_hidden loaders_budget_hidden index_visible index_hidden "
    "keyset_visible keyset_hidden keyset_statements_hidden"
).split()

#: name -> (answers by grade id, checks that must fail; every other check must pass)
CASES: dict[str, tuple[dict[str, str], set[str]]] = {
    "joinedload, chained selectinload, status first, row values": (
        {
            "loaders_answer": _loaders(JOINED_CATALOGUE, SELECTIN_SUMMARIES),
            "index_answer": 'my_index = Index("ix_status_customer", Order.status, Order.customer_id, '
            "Order.created_at.desc())",
            "keyset_answer": KEYSET_TUPLE,
        },
        set(),
    ),
    "own SQL, an index with the id last, two conditions": (
        {
            "loaders_answer": _loaders(SQL_CATALOGUE, SQL_SUMMARIES),
            "index_answer": 'my_index = Index("ix_four", Order.customer_id, Order.status, Order.created_at, Order.id)',
            "keyset_answer": KEYSET_TWO_WHERES,
        },
        set(),
    ),
    "titles sorted, an index without the ORDER BY column, no tie-break": (
        {
            "loaders_answer": _loaders(SORTED_TITLES_CATALOGUE, SELECTIN_SUMMARIES),
            "index_answer": 'my_index = Index("ix_customer", Order.customer_id)',
            "keyset_answer": KEYSET_NO_TIES,
        },
        {
            "catalogue_visible",
            "loaders_hidden",
            "loaders_budget_hidden",
            "index_visible",
            "index_hidden",
            "keyset_visible",
            "keyset_hidden",
            "keyset_statements_hidden",
        },
    ),
    "authors without books dropped, equality columns last, ties the wrong way": (
        {
            "loaders_answer": _loaders(INNER_JOIN_CATALOGUE, SELECTIN_SUMMARIES),
            "index_answer": 'my_index = Index("ix_backwards", Order.created_at, Order.customer_id, Order.status)',
            "keyset_answer": KEYSET_WRONG_DIRECTION,
        },
        {
            "catalogue_visible",
            "loaders_hidden",
            "index_visible",
            "index_hidden",
            "keyset_visible",
            "keyset_hidden",
            "keyset_statements_hidden",
        },
    ),
    "orders at one moment in any order, OFFSET after a count": (
        {"loaders_answer": _loaders(SOLUTION_CATALOGUE, NO_TIE_SUMMARIES), "keyset_answer": KEYSET_WITH_OFFSET},
        {"loaders_hidden", "keyset_visible", "keyset_statements_hidden"},
    ),
    "orders without lines dropped": (
        {"loaders_answer": _loaders(SOLUTION_CATALOGUE, INNER_JOIN_SUMMARIES)},
        {"loaders_hidden"},
    ),
    "the naive loaders (no budget)": (
        {"loaders_answer": _loaders(NAIVE_CATALOGUE, NAIVE_SUMMARIES)},
        {"catalogue_visible", "orders_visible", "loaders_budget_hidden"},
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_answers(tmp_path: Path, case: str) -> None:
    answers, failing = CASES[case]
    outcomes = outcomes_with_answers(NAME, answers, tmp_path, ROOT)
    assert set(outcomes) == set(ALL_CHECKS)
    expected = {gid: "failed" if gid in failing else "passed" for gid in ALL_CHECKS}
    assert outcomes == expected
