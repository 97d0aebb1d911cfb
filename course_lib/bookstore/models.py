"""The bookstore's tables as SQLAlchemy 2 ORM classes.

Six tables, the usual shape of a shop::

    authors 1--* books 1--* reviews *--1 customers 1--* orders 1--* order_lines *--1 books

Relationships load lazily (SQLAlchemy's default, ``lazy="select"``): touching
``author.books`` on an object whose books are not loaded yet issues one more query. That is
what makes the N+1 pattern of module 03 easy to write by accident, and what the loader
options ``selectinload`` and ``joinedload`` fix.

Only primary keys are indexed (and ``customers.email``, which is unique): foreign keys get
no index of their own, neither in SQLite nor in PostgreSQL, so the lessons can show what an
index changes. Money is stored in integer cents, so sums are exact on every backend.

>>> Book.__tablename__, [c.name for c in Review.__table__.columns]
('books', ['id', 'book_id', 'customer_id', 'rating', 'created_on', 'title'])
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Integer, SmallInteger, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["Base", "Author", "Book", "Customer", "Review", "Order", "OrderLine", "TABLES"]


class Base(DeclarativeBase):
    """Declarative base of the bookstore; ``Base.metadata`` holds the six tables."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={getattr(self, 'id', None)}>"


class Author(Base):
    __tablename__ = "authors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    country: Mapped[str] = mapped_column(String(2))

    books: Mapped[list[Book]] = relationship(back_populates="author", order_by="Book.id")


class Book(Base):
    __tablename__ = "books"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    genre: Mapped[str] = mapped_column(String(20))
    published_year: Mapped[int] = mapped_column(Integer)
    price_cents: Mapped[int] = mapped_column(Integer)

    author: Mapped[Author] = relationship(back_populates="books")
    reviews: Mapped[list[Review]] = relationship(back_populates="book", order_by="Review.id")
    order_lines: Mapped[list[OrderLine]] = relationship(back_populates="book", order_by="OrderLine.id")


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    email: Mapped[str] = mapped_column(String(120), unique=True)
    country: Mapped[str] = mapped_column(String(2))
    joined_on: Mapped[date] = mapped_column(Date)

    orders: Mapped[list[Order]] = relationship(back_populates="customer", order_by="Order.id")
    reviews: Mapped[list[Review]] = relationship(back_populates="customer", order_by="Review.id")


class Review(Base):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    rating: Mapped[int] = mapped_column(SmallInteger)  # 1 to 5 stars
    created_on: Mapped[date] = mapped_column(Date)  # a day: many reviews share one
    title: Mapped[str] = mapped_column(String(80))

    book: Mapped[Book] = relationship(back_populates="reviews")
    customer: Mapped[Customer] = relationship(back_populates="reviews")


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(10))  # pending, shipped, delivered, cancelled

    customer: Mapped[Customer] = relationship(back_populates="orders")
    lines: Mapped[list[OrderLine]] = relationship(back_populates="order", order_by="OrderLine.id")


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)

    order: Mapped[Order] = relationship(back_populates="lines")
    book: Mapped[Book] = relationship(back_populates="order_lines")


#: The tables in an order that respects foreign keys (parents first).
TABLES: tuple[str, ...] = ("authors", "books", "customers", "reviews", "orders", "order_lines")
