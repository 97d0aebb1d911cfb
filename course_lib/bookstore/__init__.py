"""The course's sample domain: a bookstore on SQLAlchemy 2, its data, its queries, its web API.

Module 03 builds it and optimises it; later modules put a cache in front of it (04) and
instrument it (05); modules 06 (load testing) and 07 (capstone), in preparation, will
load-test it and tune it end to end.

>>> from course_lib.bookstore import Scale, temporary_bookstore, queries
>>> with temporary_bookstore(Scale.small(), seed=1) as store:
...     with store.session() as session:
...         title = queries.top_books_optimised(session, limit=1)[0]["title"]
>>> isinstance(title, str) and len(title) > 0
True

==============================  ==========================================================
``models``                      the six tables as ORM classes (``Author``, ``Book``, ...)
``data``                        ``Scale``, ``generate``, ``populate``, ``temporary_bookstore``
``queries``                     each endpoint's question, naive and optimised (``NAIVE``,
                                ``OPTIMISED``)
``app``                         ``create_app(engine, variant=...)``: the FastAPI app
``explain``                     ``explain(engine, statement)``: query plans on SQLite and
                                PostgreSQL, read alike
``pool``                        ``engine_with_pool``, ``checkout_burst``: pools under load
==============================  ==========================================================

Counting the statements a block issues is :mod:`course_lib.database.querycount`.
"""

from course_lib.bookstore import queries
from course_lib.bookstore.data import Bookstore, Scale, analyze, generate, populate, temporary_bookstore
from course_lib.bookstore.models import Author, Base, Book, Customer, Order, OrderLine, Review

__all__ = [
    "Author",
    "Base",
    "Book",
    "Bookstore",
    "Customer",
    "Order",
    "OrderLine",
    "Review",
    "Scale",
    "analyze",
    "generate",
    "populate",
    "queries",
    "temporary_bookstore",
]
