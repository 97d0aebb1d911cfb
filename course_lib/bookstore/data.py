"""A deterministic, skewed sample of bookstore data, and a database that holds it.

Real shop data is lopsided: a few authors write many of the books, a few books get most of
the reviews and sales, a few customers place many of the orders, and ratings pile up at four
and five stars. The generator draws those with Zipf-like weights (weight of the item of
rank ``r`` proportional to ``1 / r**s``) from one seeded numpy generator, so the same
``Scale`` and ``seed`` always give the same rows, on every machine and backend.

>>> rows = generate(Scale.small(), seed=1)
>>> {table: len(r) for table, r in rows.items()}  # doctest: +NORMALIZE_WHITESPACE
{'authors': 40, 'books': 300, 'customers': 200, 'reviews': 2000, 'orders': 600,
 'order_lines': 1464}
>>> generate(Scale.small(), seed=1) == rows
True

``temporary_bookstore()`` puts such a sample in a fresh temporary database (SQLite by
default, PostgreSQL when ``COURSE_DATABASE_URL`` is set; see :mod:`course_lib.backends`)::

    with temporary_bookstore(Scale.small(), seed=1) as store:
        with store.session() as session:
            session.get(Author, 1).name
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine, insert, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.schema import CreateIndex, CreateTable

from course_lib.backends import temporary_database
from course_lib.bookstore.models import TABLES, Base

__all__ = ["Scale", "generate", "populate", "Bookstore", "temporary_bookstore", "analyze"]

Rows = dict[str, list[dict[str, Any]]]

_FIRST = (
    "Ada",
    "Ben",
    "Carla",
    "Dmitri",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kofi",
    "Lena",
    "Mateo",
    "Nadia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tariq",
    "Uma",
    "Viktor",
    "Wen",
    "Yara",
)
_LAST = (
    "Adler",
    "Baptiste",
    "Castro",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Rossi",
    "Silva",
    "Tanaka",
    "Weber",
)
_ADJECTIVES = (
    "Silent",
    "Hidden",
    "Last",
    "Broken",
    "Golden",
    "Quiet",
    "Distant",
    "Burning",
    "Frozen",
    "Secret",
    "Little",
    "Endless",
    "Paper",
    "Crimson",
    "Hollow",
    "Wandering",
)
_NOUNS = (
    "River",
    "Garden",
    "Orchard",
    "Harbour",
    "Lantern",
    "Archive",
    "Mountain",
    "Kingdom",
    "Letter",
    "Machine",
    "Island",
    "Winter",
    "Compass",
    "Library",
    "Engine",
    "Forest",
    "Mirror",
    "Season",
)
_GENRES = ("fiction", "mystery", "fantasy", "science", "history", "romance", "biography", "poetry")
_GENRE_WEIGHTS = (0.30, 0.18, 0.14, 0.12, 0.10, 0.08, 0.05, 0.03)
_COUNTRIES = ("US", "GB", "DE", "FR", "ES", "IN", "JP", "BR", "NG", "SE")
_COUNTRY_WEIGHTS = (0.32, 0.16, 0.12, 0.09, 0.08, 0.08, 0.06, 0.04, 0.03, 0.02)
_RATING_WEIGHTS = (0.05, 0.07, 0.13, 0.30, 0.45)  # one to five stars: the usual J shape
_REVIEW_TITLES = ("Not for me", "Disappointing", "It was fine", "Really good", "Loved it")
_STATUSES = ("delivered", "shipped", "pending", "cancelled")
_STATUS_WEIGHTS = (0.86, 0.07, 0.04, 0.03)
_START = datetime(2019, 1, 1)
#: Indexes the models themselves declare (none beyond keys today); populate() creates only these.
_MODEL_INDEXES = frozenset(index.name for table in Base.metadata.tables.values() for index in table.indexes)
_DAYS = 6 * 365  # reviews and orders span 2019 to 2024


@dataclass(frozen=True)
class Scale:
    """How many rows of each kind to generate (order lines: about ``lines_per_order`` per order).

    >>> Scale().times(0.5).books
    1000
    """

    authors: int = 200
    books: int = 2_000
    customers: int = 1_000
    reviews: int = 20_000
    orders: int = 5_000
    lines_per_order: float = 2.5
    #: Zipf exponents: how strongly a few authors, books and customers dominate.
    author_skew: float = 0.8
    book_skew: float = 1.0
    customer_skew: float = 0.8

    @classmethod
    def small(cls) -> Scale:
        """A tenth of the default scale or so: for tests and quick checks."""
        return cls(authors=40, books=300, customers=200, reviews=2_000, orders=600)

    def times(self, factor: float) -> Scale:
        """Every row count multiplied by ``factor`` (at least one row each)."""
        counts = {
            name: max(1, round(getattr(self, name) * factor))
            for name in ("authors", "books", "customers", "reviews", "orders")
        }
        return replace(self, **counts)


def _zipf_choice(rng: np.random.Generator, n_items: int, size: int, s: float) -> np.ndarray:
    """``size`` ids from 1..n_items; the item of popularity rank r is drawn with weight 1/r**s.

    Popularity ranks are shuffled over the ids, so the popular items are not simply the
    lowest ids.
    """
    weights = 1.0 / np.arange(1, n_items + 1) ** s
    ids_by_rank = rng.permutation(n_items) + 1
    return ids_by_rank[rng.choice(n_items, size=size, p=weights / weights.sum())]


def _pick(
    rng: np.random.Generator, options: tuple[str, ...], size: int, p: tuple[float, ...] | None = None
) -> list[str]:
    weights = None if p is None else np.asarray(p) / np.sum(p)
    return [options[i] for i in rng.choice(len(options), size=size, p=weights)]


def generate(scale: Scale | None = None, seed: int = 0) -> Rows:
    """The rows of every table, as dicts keyed by column name; same arguments, same rows.

    Ids run from 1 in each table. Orders are numbered in time order, reviews are not.
    """
    scale = scale or Scale()
    rng = np.random.default_rng(seed)
    rows: Rows = {}

    names = [
        f"{first} {last}"
        for first, last in zip(_pick(rng, _FIRST, scale.authors), _pick(rng, _LAST, scale.authors), strict=True)
    ]
    countries = _pick(rng, _COUNTRIES, scale.authors, _COUNTRY_WEIGHTS)
    rows["authors"] = [
        {"id": i, "name": name, "country": c} for i, (name, c) in enumerate(zip(names, countries, strict=True), 1)
    ]

    n = scale.books
    author_ids = _zipf_choice(rng, scale.authors, n, scale.author_skew).tolist()
    titles = [f"The {a} {b}" for a, b in zip(_pick(rng, _ADJECTIVES, n), _pick(rng, _NOUNS, n), strict=True)]
    genres = _pick(rng, _GENRES, n, _GENRE_WEIGHTS)
    years = np.clip(2024 - rng.exponential(12, n).astype(int), 1900, 2024).tolist()
    prices = (np.round(rng.lognormal(np.log(15), 0.4, n)) * 100 - 1).astype(int).clip(99).tolist()
    rows["books"] = [
        {"id": i, "title": t, "author_id": a, "genre": g, "published_year": y, "price_cents": p}
        for i, (t, a, g, y, p) in enumerate(zip(titles, author_ids, genres, years, prices, strict=True), 1)
    ]

    n = scale.customers
    first, last = _pick(rng, _FIRST, n), _pick(rng, _LAST, n)
    countries = _pick(rng, _COUNTRIES, n, _COUNTRY_WEIGHTS)
    joined = rng.integers(0, _DAYS, n).tolist()
    rows["customers"] = [
        {
            "id": i,
            "name": f"{f} {s}",
            "email": f"{f.lower()}.{s.lower()}.{i}@example.com",
            "country": c,
            "joined_on": date(2018, 1, 1) + timedelta(days=d),
        }
        for i, (f, s, c, d) in enumerate(zip(first, last, countries, joined, strict=True), 1)
    ]

    n = scale.reviews
    book_ids = _zipf_choice(rng, scale.books, n, scale.book_skew).tolist()
    reviewer_ids = _zipf_choice(rng, scale.customers, n, scale.customer_skew).tolist()
    ratings = (rng.choice(5, size=n, p=_RATING_WEIGHTS) + 1).tolist()
    days = rng.integers(0, _DAYS, n).tolist()
    rows["reviews"] = [
        {
            "id": i,
            "book_id": b,
            "customer_id": c,
            "rating": r,
            "created_on": _START.date() + timedelta(days=d),
            "title": _REVIEW_TITLES[r - 1],
        }
        for i, (b, c, r, d) in enumerate(zip(book_ids, reviewer_ids, ratings, days, strict=True), 1)
    ]

    n = scale.orders
    buyer_ids = _zipf_choice(rng, scale.customers, n, scale.customer_skew).tolist()
    seconds = np.sort(rng.integers(0, _DAYS * 86_400, n)).tolist()
    statuses = _pick(rng, _STATUSES, n, _STATUS_WEIGHTS)
    rows["orders"] = [
        {"id": i, "customer_id": c, "created_at": _START + timedelta(seconds=s), "status": st}
        for i, (c, s, st) in enumerate(zip(buyer_ids, seconds, statuses, strict=True), 1)
    ]

    lines_each = 1 + rng.poisson(scale.lines_per_order - 1, n)
    order_ids = np.repeat(np.arange(1, n + 1), lines_each).tolist()
    line_books = _zipf_choice(rng, scale.books, len(order_ids), scale.book_skew).tolist()
    quantities = rng.geometric(0.7, len(order_ids)).tolist()
    price_of = {book["id"]: book["price_cents"] for book in rows["books"]}
    rows["order_lines"] = [
        {"id": i, "order_id": o, "book_id": b, "quantity": q, "unit_price_cents": price_of[b]}
        for i, (o, b, q) in enumerate(zip(order_ids, line_books, quantities, strict=True), 1)
    ]
    return rows


def analyze(engine: Engine) -> None:
    """Refresh the planner's statistics (``ANALYZE``; on PostgreSQL ``VACUUM ANALYZE``).

    Run it after loading data or creating an index, as a database administrator would:
    query plans depend on these statistics. ``VACUUM`` also lets PostgreSQL answer from an
    index alone (an index-only scan) without visiting the table.
    """
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")


def populate(engine: Engine, scale: Scale | None = None, seed: int = 0) -> dict[str, int]:
    """Create the bookstore's tables in ``engine``'s (empty) database and fill them.

    The tables are created as the models declare them, keys and constraints only: indexes
    added to the tables later (``Index(...)`` in a lesson) are not. Returns the number of rows
    per table. Rows go in with one ``executemany`` per table, then :func:`analyze` runs, so
    that query plans reflect the data.
    """
    rows = generate(scale, seed)
    with engine.begin() as connection:
        for name in TABLES:
            table = Base.metadata.tables[name]
            # Only what the models declare: an Index made later on these tables (in a lesson or an
            # exercise) joins the shared metadata, and create_all() would build it here too.
            connection.execute(CreateTable(table))
            for index in table.indexes:
                if index.name in _MODEL_INDEXES:
                    connection.execute(CreateIndex(index))
            if rows[name]:  # an empty list would insert one row of defaults
                connection.execute(insert(table), rows[name])
        if engine.dialect.name == "postgresql":  # ids were given explicitly: move the sequences on
            for table in TABLES:
                connection.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
                )
    analyze(engine)
    return {table: len(rows[table]) for table in TABLES}


@dataclass
class Bookstore:
    """A populated bookstore database: its engine, how it was made, and a session factory.

    ``store.session()`` is a new ORM session on ``store.engine``; use it in a ``with`` block.
    """

    engine: Engine
    scale: Scale
    seed: int
    counts: dict[str, int]  #: rows per table
    session: sessionmaker[Session] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.session = sessionmaker(self.engine)


@contextmanager
def temporary_bookstore(scale: Scale | None = None, seed: int = 0, **engine_options: Any) -> Iterator[Bookstore]:
    """A fresh temporary database (see :func:`course_lib.backends.temporary_database`) holding
    the bookstore at ``scale`` with ``seed``; removed on exit, also when the body raises.

    ``engine_options`` go to ``temporary_database`` (for example ``echo=True``).
    """
    scale = scale or Scale()
    with temporary_database(**engine_options) as engine:
        counts = populate(engine, scale, seed)
        yield Bookstore(engine, scale, seed, counts)
