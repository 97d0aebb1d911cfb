"""The capstone's reference fixes, as the solution notebook writes them (kept here for the tests)."""

import asyncio
import json

from prometheus_client import CollectorRegistry

from course_lib.bookstore.queries import author_detail_optimised, book_list_optimised
from course_lib.capstone.service import SLOW
from course_lib.capstone.warehouse import WarehouseError
from course_lib.monitoring.metrics import instrument_app


def add_indexes(engine):
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE INDEX ix_reviews_book_created ON reviews (book_id, created_on)")


class AuthorCache:
    def __init__(self, store):
        self.store = store

    def read(self, author_id, load):
        cached = self.store.get(f"author:{author_id}")
        if cached is not None:
            return json.loads(cached)
        value = load()
        self.store.set(f"author:{author_id}", json.dumps(value).encode(), ttl=300)
        return value

    def invalidate(self, author_id):
        self.store.delete(f"author:{author_id}")


async def call_warehouse(warehouse, book_id):
    return await asyncio.to_thread(warehouse.stock, book_id)


async def with_retries(call, sleep):
    for attempt in range(4):
        try:
            return await call()
        except WarehouseError:
            if attempt == 3:
                raise
            await sleep(0.01 * 2**attempt)


def instrument(app):
    instrument_app(app, CollectorRegistry())


QUERIES = SLOW.but(book_list=book_list_optimised, author_detail=author_detail_optimised)
FIXED = QUERIES.but(
    add_indexes=add_indexes,
    author_cache=AuthorCache,
    call_warehouse=call_warehouse,
    with_retries=with_retries,
    instrument=instrument,
)
