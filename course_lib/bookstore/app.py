"""The bookstore's web API: a FastAPI app made by a factory, over any SQLAlchemy engine.

>>> from course_lib.bookstore import Scale, temporary_bookstore
>>> with temporary_bookstore(Scale.small(), seed=1) as store:
...     with app_client(create_app(store.engine, variant="naive")) as client:
...         response = client.get("/books", params={"limit": 3})
>>> response.status_code, len(response.json()), sorted(response.json()[0])
(200, 3, ['author', 'average_rating', 'genre', 'id', 'price_cents', 'reviews', 'title'])

Endpoints (every one answers with JSON; unknown ids give 404):

=================================  ==================================================
``GET /books?genre=&limit=20``     a page of books with author and review stats
``GET /authors/{author_id}``       an author and their books with review stats
``GET /customers/{id}/orders``     a customer's latest orders with their lines
``GET /stats/top-books?limit=10``  best sellers by revenue
=================================  ==================================================

``variant="naive"`` answers with the naive queries of :mod:`course_lib.bookstore.queries`
(N+1 loading, aggregation in Python), ``"optimised"`` with the fixed ones; the responses
are identical, the number of statements per request is not. Pass your own
:class:`~course_lib.bookstore.queries.Queries` to try other implementations.

The factory keeps no global state: everything a request needs hangs off ``app.state``
(``engine``, ``sessions``, ``queries``), so later modules can wrap the app (a cache in front
of the queries, metrics middleware) without touching this file. Endpoints are plain
``def`` functions: FastAPI runs them in its thread pool, which suits a synchronous driver.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from course_lib.bookstore.queries import NAIVE, OPTIMISED, Queries, Row

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

__all__ = ["create_app", "app_client", "VARIANTS"]

T = TypeVar("T")

#: The built-in sets of queries, by name.
VARIANTS: dict[str, Queries] = {"naive": NAIVE, "optimised": OPTIMISED}


def _session(request: Request) -> Iterator[Session]:
    """One session per request, closed when the response has been sent."""
    with request.app.state.sessions() as session:
        yield session


def _queries(request: Request) -> Queries:
    return request.app.state.queries


DB = Annotated[Session, Depends(_session)]
Q = Annotated[Queries, Depends(_queries)]


def create_app(engine: Engine, *, variant: Literal["naive", "optimised"] | Queries = "optimised") -> FastAPI:
    """A new bookstore app over ``engine`` (whose database holds the bookstore's tables)."""
    queries = variant if isinstance(variant, Queries) else VARIANTS.get(variant)
    if queries is None:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)} or a Queries object, got {variant!r}")
    name = variant if isinstance(variant, str) else "custom"
    app = FastAPI(title=f"Bookstore ({name} queries)", version="1.0")
    app.state.engine = engine
    app.state.sessions = sessionmaker(engine)
    app.state.queries = queries
    app.state.variant = name

    @app.get("/books")
    def list_books(
        db: DB, q: Q, genre: str | None = None, limit: Annotated[int, Query(ge=1, le=100)] = 20
    ) -> list[Row]:
        return q.book_list(db, genre=genre, limit=limit)

    @app.get("/authors/{author_id}")
    def get_author(author_id: int, db: DB, q: Q) -> Row:
        return _found(q.author_detail(db, author_id), f"no author with id {author_id}")

    @app.get("/customers/{customer_id}/orders")
    def get_orders(customer_id: int, db: DB, q: Q, limit: Annotated[int, Query(ge=1, le=100)] = 10) -> list[Row]:
        return _found(q.customer_orders(db, customer_id, limit=limit), f"no customer with id {customer_id}")

    @app.get("/stats/top-books")
    def top_books(db: DB, q: Q, limit: Annotated[int, Query(ge=1, le=100)] = 10) -> list[Row]:
        return q.top_books(db, limit=limit)

    return app


def _found(value: T | None, message: str) -> T:
    if value is None:
        raise HTTPException(status_code=404, detail=message)
    return value


@contextmanager
def app_client(app: FastAPI) -> Iterator[TestClient]:
    """An in-process HTTP client for ``app`` (no socket, no server): FastAPI's ``TestClient``.

    Requests go straight into the app, so what you time is the app's own work. The app's
    startup and shutdown run on entry and exit. Real HTTP over a socket comes in module 05.
    """
    with warnings.catch_warnings():
        # Starlette asks for the httpx2 package; plain httpx works the same for the course.
        warnings.filterwarnings("ignore", message=".*httpx2.*")
        from fastapi.testclient import TestClient
    with TestClient(app) as client:
        yield client
