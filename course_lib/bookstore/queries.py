"""What the bookstore's endpoints ask the database: each question written twice.

Every question has a *naive* version, written the way ORM code often starts out (load
objects, follow relationships, loop in Python), and an *optimised* version that asks the
database once or twice. Both return the same plain Python values (dicts, lists, numbers,
dates), in the same order, so a test can compare them with ``==``. They differ in how many
statements they send:

=====================  =========================================  ===========================
question               naive                                      optimised
=====================  =========================================  ===========================
``book_list``          1 + one per distinct author + one per book 2 (page, then review stats)
``author_detail``      2 + one per book (its reviews)             2 (author, books with stats)
``customer_orders``    2 + one per order shown + one per distinct 3 (customer, orders, lines)
                       book
``top_books``          1 (all order lines) + one per book + one   1 (``GROUP BY`` in SQL)
                       per distinct author
=====================  =========================================  ===========================

>>> NAIVE.book_list.__name__, OPTIMISED.book_list.__name__
('book_list_naive', 'book_list_optimised')

"One per distinct author" holds because the session's identity map returns an object it
already holds instead of querying again. The identity map only keeps objects that are still
referenced, so the naive versions keep what they loaded until they return.

Averages are computed as ``round(sum / count, 2)`` from integer sums in both versions, so
the results are identical on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from course_lib.bookstore.models import Author, Book, Customer, Order, OrderLine, Review

__all__ = [
    "Queries",
    "NAIVE",
    "OPTIMISED",
    "average",
    "book_list_naive",
    "book_list_optimised",
    "author_detail_naive",
    "author_detail_optimised",
    "customer_orders_naive",
    "customer_orders_optimised",
    "top_books_naive",
    "top_books_optimised",
]

Row = dict[str, Any]


def average(total: int | None, count: int) -> float | None:
    """``round(total / count, 2)``, or None without any items.

    >>> average(9, 2), average(None, 0)
    (4.5, None)
    """
    return round(total / count, 2) if count else None


# ------------------------------------------------------------------- a page of books


def book_list_naive(session: Session, genre: str | None = None, limit: int = 20) -> list[Row]:
    """Books in id order with author name, review count and average rating: lazy loading."""
    query = select(Book).order_by(Book.id).limit(limit)
    if genre is not None:
        query = query.where(Book.genre == genre)
    result = []
    for book in session.scalars(query):
        ratings = [review.rating for review in book.reviews]  # one query per book
        result.append(
            {
                "id": book.id,
                "title": book.title,
                "author": book.author.name,  # one per author
                "genre": book.genre,
                "price_cents": book.price_cents,
                "reviews": len(ratings),
                "average_rating": average(sum(ratings), len(ratings)),
            }
        )
    return result


def book_list_optimised(session: Session, genre: str | None = None, limit: int = 20) -> list[Row]:
    """The same as :func:`book_list_naive` in two statements: the page, then its review stats."""
    query = (
        select(Book.id, Book.title, Author.name, Book.genre, Book.price_cents)
        .join(Book.author)
        .order_by(Book.id)
        .limit(limit)
    )
    if genre is not None:
        query = query.where(Book.genre == genre)
    page = session.execute(query).all()
    stats = dict.fromkeys([row.id for row in page], (0, None))
    if stats:
        grouped = (
            select(Review.book_id, func.count(), func.sum(Review.rating))
            .where(Review.book_id.in_(stats))
            .group_by(Review.book_id)
        )
        stats.update({book_id: (n, total) for book_id, n, total in session.execute(grouped)})
    return [
        {
            "id": row.id,
            "title": row.title,
            "author": row.name,
            "genre": row.genre,
            "price_cents": row.price_cents,
            "reviews": stats[row.id][0],
            "average_rating": average(stats[row.id][1], stats[row.id][0]),
        }
        for row in page
    ]


# ------------------------------------------------------------------- one author


def author_detail_naive(session: Session, author_id: int) -> Row | None:
    """An author with each of their books' review count and average rating; None if unknown."""
    author = session.get(Author, author_id)
    if author is None:
        return None
    books = []
    for book in author.books:  # one query for the books, then one per book for its reviews
        ratings = [review.rating for review in book.reviews]
        books.append(
            {
                "id": book.id,
                "title": book.title,
                "published_year": book.published_year,
                "reviews": len(ratings),
                "average_rating": average(sum(ratings), len(ratings)),
            }
        )
    return {"id": author.id, "name": author.name, "country": author.country, "books": books}


def author_detail_optimised(session: Session, author_id: int) -> Row | None:
    """The same as :func:`author_detail_naive` in two statements (an outer join with ``GROUP BY``)."""
    author = session.get(Author, author_id)
    if author is None:
        return None
    query = (
        select(Book.id, Book.title, Book.published_year, func.count(Review.id), func.sum(Review.rating))
        .outerjoin(Book.reviews)
        .where(Book.author_id == author_id)
        .group_by(Book.id, Book.title, Book.published_year)
        .order_by(Book.id)
    )
    books = [
        {"id": book_id, "title": title, "published_year": year, "reviews": n, "average_rating": average(total, n)}
        for book_id, title, year, n, total in session.execute(query)
    ]
    return {"id": author.id, "name": author.name, "country": author.country, "books": books}


# ------------------------------------------------------------------- a customer's orders


def _order_row(order: Order) -> Row:
    lines = [
        {
            "book_id": line.book_id,
            "title": line.book.title,
            "quantity": line.quantity,
            "unit_price_cents": line.unit_price_cents,
        }
        for line in order.lines
    ]
    return {
        "id": order.id,
        "created_at": order.created_at,
        "status": order.status,
        "total_cents": sum(line["quantity"] * line["unit_price_cents"] for line in lines),
        "lines": lines,
    }


def customer_orders_naive(session: Session, customer_id: int, limit: int = 10) -> list[Row] | None:
    """A customer's latest ``limit`` orders (newest first) with their lines; None if unknown."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    latest = sorted(customer.orders, key=lambda o: (o.created_at, o.id), reverse=True)[:limit]
    return [_order_row(order) for order in latest]  # lines: one query per order; books: one per book


def customer_orders_optimised(session: Session, customer_id: int, limit: int = 10) -> list[Row] | None:
    """The same as :func:`customer_orders_naive` in three statements."""
    if session.get(Customer, customer_id) is None:
        return None
    query = (
        select(Order)
        .where(Order.customer_id == customer_id)
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(limit)
        .options(selectinload(Order.lines).joinedload(OrderLine.book))
    )
    return [_order_row(order) for order in session.scalars(query)]


# ------------------------------------------------------------------- best sellers


def top_books_naive(session: Session, limit: int = 10) -> list[Row]:
    """The ``limit`` books with the highest revenue (ties by id): aggregated in Python."""
    copies: dict[int, int] = defaultdict(int)
    revenue: dict[int, int] = defaultdict(int)
    for line in session.scalars(select(OrderLine)):  # every order line, as an object
        copies[line.book_id] += line.quantity
        revenue[line.book_id] += line.quantity * line.unit_price_cents
    top = sorted(revenue, key=lambda book_id: (-revenue[book_id], book_id))[:limit]
    books = [session.get(Book, book_id) for book_id in top]  # one query per book
    return [
        {
            "book_id": book.id,
            "title": book.title,
            "author": book.author.name,  # one per distinct author
            "copies": copies[book.id],
            "revenue_cents": revenue[book.id],
        }
        for book in books
    ]


def top_books_optimised(session: Session, limit: int = 10) -> list[Row]:
    """The same as :func:`top_books_naive` in one statement: ``GROUP BY``, ``ORDER BY``, ``LIMIT``."""
    revenue = func.sum(OrderLine.quantity * OrderLine.unit_price_cents)
    query = (
        select(Book.id, Book.title, Author.name, func.sum(OrderLine.quantity), revenue)
        .join(OrderLine.book)
        .join(Book.author)
        .group_by(Book.id, Book.title, Author.name)
        .order_by(revenue.desc(), Book.id)
        .limit(limit)
    )
    return [
        {"book_id": book_id, "title": title, "author": author, "copies": int(n), "revenue_cents": int(total)}
        for book_id, title, author, n, total in session.execute(query)
    ]


# ------------------------------------------------------------------- the two sets


@dataclass(frozen=True)
class Queries:
    """One implementation of each question; the app's endpoints call these."""

    book_list: Callable[..., list[Row]]
    author_detail: Callable[..., Row | None]
    customer_orders: Callable[..., list[Row] | None]
    top_books: Callable[..., list[Row]]


NAIVE = Queries(book_list_naive, author_detail_naive, customer_orders_naive, top_books_naive)
OPTIMISED = Queries(book_list_optimised, author_detail_optimised, customer_orders_optimised, top_books_optimised)
