"""The two bookstore operations a cache sits in front of: read one book, change its price.

Module 03's bookstore (:mod:`course_lib.bookstore`) answers pages and reports; caching
is easiest to see on the simplest read there is, one book by id, and the simplest write,
a new price. Both issue exactly one SQL statement, so in a cached read the number of
statements *is* the number of misses.

>>> from course_lib.bookstore import Scale, temporary_bookstore
>>> with temporary_bookstore(Scale.small(), seed=1) as store:
...     with store.session() as session:
...         before = load_book(session, 7)["price_cents"]
...         changed = set_price(session, 7, before + 100)
...         load_book(session, 7)["price_cents"] - before
100
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from course_lib.bookstore.models import Author, Book, Review

__all__ = ["load_book", "set_price", "set_prices", "book_ids"]


def load_book(session: Session, book_id: int) -> dict[str, Any] | None:
    """One book with its author, price and review statistics, in one statement; None if unknown."""
    query = (
        select(
            Book.id,
            Book.title,
            Author.name,
            Book.genre,
            Book.published_year,
            Book.price_cents,
            func.count(Review.id),
            func.sum(Review.rating),
        )
        .join(Book.author)
        .outerjoin(Book.reviews)
        .where(Book.id == book_id)
        .group_by(Book.id, Book.title, Author.name, Book.genre, Book.published_year, Book.price_cents)
    )
    row = session.execute(query).first()
    if row is None:
        return None
    book_id, title, author, genre, year, price, reviews, total = row
    return {
        "id": book_id,
        "title": title,
        "author": author,
        "genre": genre,
        "published_year": year,
        "price_cents": price,
        "reviews": reviews,
        "average_rating": round(total / reviews, 2) if reviews else None,
    }


def set_price(session: Session, book_id: int, price_cents: int) -> bool:
    """Change one book's price and commit (one ``UPDATE``); True if the book exists."""
    result = session.execute(update(Book).where(Book.id == book_id).values(price_cents=price_cents))
    session.commit()
    return result.rowcount == 1


def set_prices(session: Session, prices: dict[int, int]) -> None:
    """Change several prices in one ``executemany`` statement and commit."""
    if prices:
        session.execute(update(Book), [{"id": book_id, "price_cents": p} for book_id, p in prices.items()])
        session.commit()


def book_ids(session: Session) -> list[int]:
    """Every book id, in order."""
    return list(session.scalars(select(Book.id).order_by(Book.id)))
