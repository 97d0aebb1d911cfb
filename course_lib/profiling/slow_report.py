"""A realistic slow report, and a request handler with a memory leak, for module 02.

The data are a small bookstore held in plain Python lists of dicts (authors, books, orders
with order lines, reviews), made deterministically from a seed by :func:`make_bookstore`.
Module 03 builds the same kind of domain in a SQL database; here everything stays in
memory so that the profilers see only Python.

:func:`bestseller_report` is written the way reports often are at first: correct, short
and readable, and slow for a reason a profile reveals (a helper that looks each book up by
scanning the whole list, called once per order line). Module 02's lesson profiles it and
its exercise fixes it. :class:`ReportService` is a request handler whose response cache
never returns a hit and never forgets: a planted leak for ``tracemalloc``.

>>> store = make_bookstore(n_books=20, n_orders=30, seed=1)
>>> len(store.books), len(store.orders), store.n_order_lines == sum(len(o["lines"]) for o in store.orders)
(20, 30, True)
>>> rows = bestseller_report(store, top=3)
>>> [row["rank"] for row in rows], rows[0]["revenue_cents"] >= rows[1]["revenue_cents"]
([1, 2, 3], True)
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Bookstore",
    "make_bookstore",
    "find_book",
    "sales_by_book",
    "average_ratings",
    "author_names",
    "bestseller_report",
    "ReportService",
]

Row = dict[str, Any]

_ADJECTIVES = (
    "Silent",
    "Hidden",
    "Last",
    "Broken",
    "Golden",
    "Distant",
    "Quiet",
    "Burning",
    "Frozen",
    "Lost",
    "Secret",
    "Wild",
    "Hollow",
    "Final",
    "Northern",
    "Paper",
)
_NOUNS = (
    "River",
    "Garden",
    "Empire",
    "Letter",
    "Harbour",
    "Engine",
    "Orchard",
    "Signal",
    "Mountain",
    "Library",
    "Winter",
    "Compass",
    "Lantern",
    "Archive",
    "Island",
    "Bridge",
)
_FIRST = (
    "Ana",
    "Ben",
    "Carla",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Iris",
    "Jonas",
    "Kemi",
    "Luis",
    "Maya",
    "Nils",
    "Olga",
    "Priya",
    "Quentin",
    "Rosa",
    "Sami",
    "Tara",
)
_LAST = (
    "Alvarez",
    "Brandt",
    "Chen",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Novak",
    "Okafor",
    "Petrov",
)
_GENRES = ("fiction", "mystery", "history", "science", "poetry", "travel", "cooking", "children")


@dataclass(frozen=True)
class Bookstore:
    """The sample data: four lists of plain dicts (prices in cents, discounts in percent).

    - ``authors``: ``{"id", "name"}``
    - ``books``: ``{"id", "title", "author_id", "genre", "year", "price_cents"}``; the ids
      are distinct but neither consecutive nor in order, like database keys after deletes
    - ``orders``: ``{"id", "customer_id", "day", "discount_pct", "lines"}``, each line
      ``{"book_id", "quantity"}``
    - ``reviews``: ``{"book_id", "stars", "text"}`` (1 to 5 stars)
    """

    authors: list[dict[str, Any]]
    books: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    reviews: list[dict[str, Any]]

    @property
    def n_order_lines(self) -> int:
        """How many order lines all orders hold together."""
        return sum(len(order["lines"]) for order in self.orders)


def make_bookstore(n_books: int = 400, n_orders: int = 1500, seed: int = 0) -> Bookstore:
    """A deterministic bookstore: the same arguments always give the same data.

    There are about a quarter as many authors as books, one to five lines per order, and
    two reviews per book on average. Popularity is skewed, as in real shops: a few books
    sell much more than the rest.
    """
    if n_books < 1 or n_orders < 0:
        raise ValueError(f"need n_books >= 1 and n_orders >= 0, got n_books={n_books}, n_orders={n_orders}")
    rng = random.Random(seed)
    authors = [{"id": i + 1, "name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"} for i in range(max(1, n_books // 4))]
    ids = rng.sample(range(10_000, 10_000 + 20 * n_books), n_books)  # scattered, unordered keys
    books = [
        {
            "id": book_id,
            "title": f"The {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
            + (f" {n}" if (n := rng.randrange(4)) else ""),
            "author_id": rng.choice(authors)["id"],
            "genre": rng.choice(_GENRES),
            "year": rng.randint(1950, 2024),
            "price_cents": rng.randrange(499, 4999, 50),
        }
        for book_id in ids
    ]
    weights = [1 / (rank + 1) for rank in range(n_books)]  # Zipf-like popularity ...
    rng.shuffle(weights)  # ... unrelated to a book's position in the list
    orders = [
        {
            "id": i + 1,
            "customer_id": rng.randrange(1, 1 + max(1, n_orders // 3)),
            "day": rng.randrange(365),
            "discount_pct": rng.choice((0, 0, 0, 5, 10, 15)),
            "lines": [
                {"book_id": book["id"], "quantity": rng.choice((1, 1, 1, 2, 3))}
                for book in rng.choices(books, weights, k=rng.randint(1, 5))
            ],
        }
        for i in range(n_orders)
    ]
    reviews = [
        {
            "book_id": rng.choice(books)["id"],
            "stars": rng.choice((1, 2, 3, 4, 4, 5, 5)),
            "text": " ".join(rng.choices(_NOUNS + _ADJECTIVES, k=rng.randint(3, 12))).lower(),
        }
        for _ in range(2 * n_books)
    ]
    return Bookstore(authors, books, orders, reviews)


def find_book(books: list[dict[str, Any]], book_id: int) -> dict[str, Any]:
    """The book with ``book_id``: looks at each book in turn until it finds it."""
    for book in books:
        if book["id"] == book_id:
            return book
    raise KeyError(f"no book with id {book_id}")


def sales_by_book(orders: list[dict[str, Any]], books: list[dict[str, Any]]) -> dict[int, tuple[int, int]]:
    """``{book_id: (copies sold, revenue in cents)}`` over all order lines, after discounts."""
    sales: dict[int, tuple[int, int]] = {}
    for order in orders:
        for line in order["lines"]:
            book = find_book(books, line["book_id"])
            revenue = line["quantity"] * book["price_cents"] * (100 - order["discount_pct"]) // 100
            copies, total = sales.get(book["id"], (0, 0))
            sales[book["id"]] = (copies + line["quantity"], total + revenue)
    return sales


def average_ratings(reviews: list[dict[str, Any]]) -> dict[int, float]:
    """``{book_id: mean stars, rounded to 2 decimals}`` for every book with a review."""
    totals: dict[int, list[int]] = {}
    for review in reviews:
        entry = totals.setdefault(review["book_id"], [0, 0])
        entry[0] += review["stars"]
        entry[1] += 1
    return {book_id: round(stars / count, 2) for book_id, (stars, count) in totals.items()}


def author_names(authors: list[dict[str, Any]]) -> dict[int, str]:
    """``{author_id: name}``."""
    return {author["id"]: author["name"] for author in authors}


def bestseller_report(store: Bookstore, top: int = 10) -> list[Row]:
    """The ``top`` best-selling books by revenue, with author and mean rating.

    Each row: ``{"rank", "book_id", "title", "author", "copies", "revenue_cents", "stars"}``
    (``stars`` is None for a book without reviews). Ties are broken by copies sold, then by
    book id, so the result is fully determined by the data.
    """
    sales = sales_by_book(store.orders, store.books)
    ratings = average_ratings(store.reviews)
    names = author_names(store.authors)
    rows = []
    for book_id, (copies, revenue) in sales.items():
        book = find_book(store.books, book_id)
        rows.append(
            {
                "book_id": book_id,
                "title": book["title"],
                "author": names[book["author_id"]],
                "copies": copies,
                "revenue_cents": revenue,
                "stars": ratings.get(book_id),
            }
        )
    rows.sort(key=lambda row: (-row["revenue_cents"], -row["copies"], row["book_id"]))
    return [{"rank": rank, **row} for rank, row in enumerate(rows[:top], start=1)]


class ReportService:
    """The book-detail endpoint of the shop, as a web framework would call it.

    ``handle(request)`` takes ``{"path": "/books/<id>", "request_id": ...}`` and returns the
    JSON body as bytes. It keeps a response cache that is meant to save work on repeated
    requests. **It has a planted memory leak** (module 02 finds it with ``tracemalloc``):
    read :meth:`handle` after you have found it, not before.

    >>> service = ReportService(make_bookstore(n_books=5, n_orders=0, seed=2))
    >>> book_id = service.store.books[0]["id"]
    >>> body = service.handle({"path": f"/books/{book_id}", "request_id": "r-1"})
    >>> json.loads(body)["id"] == book_id
    True
    """

    def __init__(self, store: Bookstore) -> None:
        self.store = store
        self._books = {book["id"]: book for book in store.books}
        self._authors = author_names(store.authors)
        self._reviews: dict[int, list[dict[str, Any]]] = {}
        for review in store.reviews:
            self._reviews.setdefault(review["book_id"], []).append(review)
        self._cache: dict[tuple[str, str], bytes] = {}

    def handle(self, request: dict[str, str]) -> bytes:
        """The JSON body for ``request``; raises KeyError for an unknown book."""
        key = (request["path"], request["request_id"])
        if key in self._cache:
            return self._cache[key]
        book = self._books[int(request["path"].rsplit("/", 1)[1])]
        reviews = self._reviews.get(book["id"], [])
        payload = {
            **book,
            "author": self._authors[book["author_id"]],
            "reviews": [{"stars": r["stars"], "text": r["text"]} for r in reviews[-20:]],
            "request_id": request["request_id"],
        }
        body = json.dumps(payload, indent=2).encode("utf-8")
        self._cache[key] = body
        return body

    @property
    def cached_responses(self) -> int:
        """How many responses the cache holds."""
        return len(self._cache)
