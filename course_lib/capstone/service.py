"""The capstone's slow bookstore service, assembled from replaceable parts.

A :class:`Parts` holds one function (or class) per seam of the service; :func:`build_app` makes a
FastAPI app from them. The defaults, :data:`SLOW`, are the service as it ships, with one real
problem per seam, each the subject of an earlier module:

==================  =====================================  =====================================
seam                the slow default                       the problem (module)
==================  =====================================  =====================================
``book_list``       lazy loading, book by book             N+1 queries (03)
``author_detail``   lazy loading, book by book             N+1 queries (03)
``add_indexes``     adds none                              a slow filter: a full scan (03)
``author_cache``    no cache: every read loads             the hot read hits the database (04)
``call_warehouse``  calls the blocking SDK in the loop     a blocked event loop (06)
``with_retries``    retries at once, forever               a retry storm, no back-off (06)
``instrument``      nothing                                no metrics (05)
==================  =====================================  =====================================

Endpoints (JSON; unknown ids give 404):

==================================  ==========================================================
``GET /books?genre=&limit=20``      a page of books with author, review count, average rating
``GET /authors/{author_id}``        an author and their books with review stats (the hot read)
``GET /books/{id}/reviews``         a book's newest reviews, ``min_rating`` and ``limit``
``POST /books/{id}/reviews``        add a review (``customer_id``, ``rating``, ``title``);
                                    then ``author_cache.invalidate(author of the book)``
``GET /books/{id}/stock``           copies in stock, from the warehouse (503 if it fails)
==================================  ==========================================================

>>> with capstone_service(SLOW, scale=Scale.small()) as service, app_client(service.app) as client:
...     client.get("/books/3/stock").json(), client.get("/metrics").status_code
({'book_id': 3, 'in_stock': 21}, 404)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Annotated, Any, Protocol

from fastapi import Body, FastAPI, HTTPException, Query
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from course_lib.backends import redis_client
from course_lib.bookstore.app import app_client
from course_lib.bookstore.data import Scale, temporary_bookstore
from course_lib.bookstore.models import Book, Review
from course_lib.bookstore.queries import Row, author_detail_naive, book_list_naive
from course_lib.caching.stores import Store, redis_store
from course_lib.capstone.warehouse import Warehouse, WarehouseError

__all__ = [
    "Parts",
    "SLOW",
    "Service",
    "NoCache",
    "build_app",
    "capstone_service",
    "app_client",
    "book_reviews",
    "no_indexes",
    "call_warehouse_blocking",
    "retry_forever",
    "no_metrics",
    "CAPSTONE_SCALE",
    "CAPSTONE_SEED",
]

#: The data the capstone runs on: the bookstore's default scale, one fixed seed.
CAPSTONE_SCALE = Scale(orders=0)  # the service never reads orders: half the rows, twice as fast to build
CAPSTONE_SEED = 7

Sleep = Callable[[float], Awaitable[Any]]


class AuthorCache(Protocol):
    """What the service asks of its cache of author details."""

    def read(self, author_id: int, load: Callable[[], Row | None]) -> Row | None: ...

    def invalidate(self, author_id: int) -> None: ...


class NoCache:
    """The slow default: no cache, every read calls ``load()`` (a database query)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def read(self, author_id: int, load: Callable[[], Row | None]) -> Row | None:
        return load()

    def invalidate(self, author_id: int) -> None:
        pass


def no_indexes(engine: Engine) -> None:
    """The slow default: no index beyond the primary keys."""


async def call_warehouse_blocking(warehouse: Warehouse, book_id: int) -> int:
    """The slow default: the blocking SDK called straight from the async handler."""
    return warehouse.stock(book_id)


async def retry_forever(call: Callable[[], Awaitable[Any]], sleep: Sleep) -> Any:
    """The slow default: retry at once after every failure, with no bound and no back-off."""
    while True:
        try:
            return await call()
        except WarehouseError:
            continue


def no_metrics(app: FastAPI) -> None:
    """The slow default: no metrics, no ``/metrics``."""


def book_reviews(session: Session, book_id: int, min_rating: int = 1, limit: int = 10) -> list[Row]:
    """A book's newest ``limit`` reviews rated ``min_rating`` or more (newest first, then by id)."""
    query = (
        select(Review.id, Review.rating, Review.created_on, Review.title)
        .where(Review.book_id == book_id, Review.rating >= min_rating)
        .order_by(Review.created_on.desc(), Review.id.desc())
        .limit(limit)
    )
    return [
        {"id": i, "rating": rating, "created_on": day.isoformat(), "title": title}
        for i, rating, day, title in session.execute(query)
    ]


@dataclass(frozen=True)
class Parts:
    """The seams of the service; every field defaults to the slow version (see the module docstring)."""

    book_list: Callable[..., list[Row]] = book_list_naive
    author_detail: Callable[..., Row | None] = author_detail_naive
    add_indexes: Callable[[Engine], None] = no_indexes
    author_cache: Callable[[Store], AuthorCache] = NoCache
    call_warehouse: Callable[[Warehouse, int], Awaitable[int]] = call_warehouse_blocking
    with_retries: Callable[[Callable[[], Awaitable[Any]], Sleep], Awaitable[Any]] = retry_forever
    instrument: Callable[[FastAPI], None] = no_metrics

    def but(self, **changes: Any) -> Parts:
        """A copy with some parts replaced: ``SLOW.but(book_list=my_book_list)``."""
        return replace(self, **changes)


#: The service as it ships: every problem in place.
SLOW = Parts()


@dataclass
class Service:
    """An assembled service: the app and what it runs on, with counts a check can read.

    ``author_reads`` counts ``GET /authors/{id}`` requests, ``author_loads`` the calls of the
    loader the cache was given (database reads): ``1 - author_loads / author_reads`` is the hit
    ratio, counted by the service, not by the cache.
    """

    app: FastAPI
    engine: Engine
    warehouse: Warehouse
    store: Store
    cache: Any
    author_reads: int = 0
    author_loads: int = 0
    stock_errors: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def build_app(
    parts: Parts, *, engine: Engine, store: Store, warehouse: Warehouse, sleep: Sleep = asyncio.sleep
) -> Service:
    """The service made of ``parts`` over a populated bookstore ``engine`` (indexes added now)."""
    parts.add_indexes(engine)
    sessions = sessionmaker(engine)
    app = FastAPI(title="Bookstore (capstone)", version="1.0")
    service = Service(app, engine, warehouse, store, parts.author_cache(store))
    parts.instrument(app)

    @app.get("/books")
    def list_books(genre: str | None = None, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[Row]:
        with sessions() as session:
            return parts.book_list(session, genre=genre, limit=limit)

    @app.get("/authors/{author_id}")
    def get_author(author_id: int) -> Row:
        def load() -> Row | None:
            service.author_loads += 1
            with sessions() as session:
                return parts.author_detail(session, author_id)

        service.author_reads += 1
        return _found(service.cache.read(author_id, load), f"no author with id {author_id}")

    @app.get("/books/{book_id}/reviews")
    def get_reviews(
        book_id: int, min_rating: Annotated[int, Query(ge=1, le=5)] = 1, limit: Annotated[int, Query(ge=1, le=50)] = 10
    ) -> list[Row]:
        with sessions() as session:
            return book_reviews(session, book_id, min_rating=min_rating, limit=limit)

    @app.post("/books/{book_id}/reviews", status_code=201)
    def add_review(
        book_id: int,
        customer_id: Annotated[int, Body()],
        rating: Annotated[int, Body(ge=1, le=5)],
        title: Annotated[str, Body(max_length=80)] = "",
    ) -> Row:
        with sessions() as session, session.begin():
            book = _found(session.get(Book, book_id), f"no book with id {book_id}")
            review = Review(
                book_id=book_id, customer_id=customer_id, rating=rating, title=title, created_on=date(2025, 1, 1)
            )
            session.add(review)
            session.flush()
            author_id, review_id = book.author_id, review.id
        service.cache.invalidate(author_id)
        return {"id": review_id, "book_id": book_id, "author_id": author_id}

    @app.get("/books/{book_id}/stock")
    async def get_stock(book_id: int) -> Row:
        async def call() -> int:
            return await parts.call_warehouse(warehouse, book_id)

        try:
            copies = await parts.with_retries(call, sleep)
        except WarehouseError as error:
            service.stock_errors += 1
            raise HTTPException(status_code=503, detail=f"the warehouse did not answer: {error}") from None
        return {"book_id": book_id, "in_stock": copies}

    return service


def _found(value: Any, message: str) -> Any:
    if value is None:
        raise HTTPException(status_code=404, detail=message)
    return value


@contextmanager
def capstone_service(
    parts: Parts = SLOW,
    *,
    warehouse: Warehouse | None = None,
    sleep: Sleep = asyncio.sleep,
    scale: Scale = CAPSTONE_SCALE,
    seed: int = CAPSTONE_SEED,
) -> Iterator[Service]:
    """A fresh bookstore database (SQLite, or PostgreSQL by ``COURSE_DATABASE_URL``), a cache store
    (fakeredis, or Redis by ``COURSE_REDIS_URL``) and the service made of ``parts`` over them; all
    removed on exit. ``warehouse`` defaults to a reliable one with 20 ms of latency.
    """
    warehouse = warehouse if warehouse is not None else Warehouse(latency=0.02)
    with temporary_bookstore(scale, seed) as store, redis_client() as client, redis_store(client, "capstone") as cache:
        yield build_app(parts, engine=store.engine, store=cache, warehouse=warehouse, sleep=sleep)
