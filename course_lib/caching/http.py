"""HTTP caching for the bookstore app: ``Cache-Control``, ``ETag`` and ``304 Not Modified``.

:func:`create_cached_app` takes module 03's app (``course_lib.bookstore.app.create_app``)
and adds two routes, leaving the others as they are:

- ``GET /books/{book_id}``: one book, read through a cache-aside function. The response
  carries ``Cache-Control: public, max-age=<seconds>`` (a browser or CDN may reuse it that
  long without asking, RFC 9111) and an ``ETag`` (a fingerprint of the body, RFC 9110). A
  client that sends the ETag back in ``If-None-Match`` gets ``304 Not Modified`` and no
  body when the book has not changed.
- ``PUT /books/{book_id}/price`` with ``{"price_cents": ...}``: changes the price in the
  database, then invalidates the cached book, so the next ``GET`` has a new ETag.

>>> etag_for(b'{"id":1}')
'"1ea450d66dcfc383"'
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException, Request, Response
from pydantic import BaseModel
from sqlalchemy import Engine

from course_lib.bookstore.app import create_app
from course_lib.caching.aside import CacheAside
from course_lib.caching.bookstore import set_price

__all__ = ["etag_for", "if_none_match", "create_cached_app"]


def etag_for(body: bytes) -> str:
    """A strong ETag for a response body: a quoted 16-hex-digit BLAKE2b digest."""
    return '"' + hashlib.blake2b(body, digest_size=8).hexdigest() + '"'


def if_none_match(header: str | None, etag: str) -> bool:
    """True if an ``If-None-Match`` header value matches ``etag`` (weak comparison, RFC 9110 13.1.2)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return etag.removeprefix("W/") in tags


class NewPrice(BaseModel):
    price_cents: int


def create_cached_app(engine: Engine, books: CacheAside[Any], *, max_age: int = 60) -> FastAPI:
    """Module 03's bookstore app over ``engine``, plus the cached, conditional book routes above.

    ``books`` is a cache-aside function ``books(book_id) -> dict | None`` (for example a
    :class:`~course_lib.caching.aside.CacheAside` around
    :func:`course_lib.caching.bookstore.load_book`); the app never decides where it caches.
    """
    app = create_app(engine, variant="optimised")
    app.state.books = books
    cache_control = f"public, max-age={max_age}"

    @app.get("/books/{book_id}")
    def get_book(book_id: int, request: Request) -> Response:
        book = books(book_id)
        if book is None:
            raise HTTPException(status_code=404, detail=f"no book with id {book_id}")
        body = orjson.dumps(book)
        headers = {"ETag": etag_for(body), "Cache-Control": cache_control}
        if if_none_match(request.headers.get("if-none-match"), headers["ETag"]):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    @app.put("/books/{book_id}/price")
    def put_price(book_id: int, new: NewPrice) -> Any:
        with app.state.sessions() as session:
            if not set_price(session, book_id, new.price_cents):
                raise HTTPException(status_code=404, detail=f"no book with id {book_id}")
        books.invalidate(book_id)
        return books(book_id)

    return app
