"""The capstone's fixed workload, an open-loop run of it against a live service, and its verdict.

The workload is a mix of the service's read endpoints in fixed proportions (:data:`MIX`), drawn
once from a seed: the same requests in the same order for every run, so that two runs differ
only in the service. :func:`run_mix` sends them on a Poisson schedule at a fixed arrival rate
(an open loop, module 06), timed from each request's intended start, to a server on 127.0.0.1.

>>> paths = workload(200, seed=1)
>>> len(paths), paths == workload(200, seed=1), sorted({p.split("?")[0].split("/")[1] for p in paths})
(200, True, ['authors', 'books'])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from course_lib.bookstore.data import Scale
from course_lib.capstone.service import CAPSTONE_SCALE, Parts, Service, capstone_service
from course_lib.capstone.warehouse import Warehouse
from course_lib.loadtest.generator import poisson_schedule, run_open
from course_lib.loadtest.results import LoadResult
from course_lib.monitoring.server import RunningServer, serve_in_thread

__all__ = ["MIX", "GENRES", "workload", "run_mix", "served", "load_warehouse", "Verdict", "verdict"]

#: Share of each kind of request in the workload.
MIX = {"author": 0.45, "books": 0.30, "reviews": 0.15, "stock": 0.10}
#: The genres of the bookstore's sample data.
GENRES = ("biography", "fantasy", "fiction", "history", "mystery", "poetry", "romance", "science")


def workload(n: int, seed: int = 0, scale: Scale = CAPSTONE_SCALE) -> list[str]:
    """``n`` request paths of the mix, authors and books drawn Zipf-like (a few are hot)."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(list(MIX), size=n, p=list(MIX.values()))
    author_weights = 1 / np.arange(1, scale.authors + 1) ** 1.1
    book_weights = 1 / np.arange(1, scale.books + 1) ** 0.8
    paths = []
    for kind in kinds:
        if kind == "author":
            author = int(rng.choice(scale.authors, p=author_weights / author_weights.sum())) + 1
            paths.append(f"/authors/{author}")
        elif kind == "books":
            genre = GENRES[int(rng.integers(len(GENRES)))]
            paths.append(f"/books?genre={genre}&limit={int(rng.choice([10, 20]))}")
        else:
            book = int(rng.choice(scale.books, p=book_weights / book_weights.sum())) + 1
            paths.append(
                f"/books/{book}/reviews?min_rating={int(rng.integers(1, 5))}"
                if kind == "reviews"
                else f"/books/{book}/stock"
            )
    return paths


def load_warehouse(seed: int = 0) -> Warehouse:
    """The warehouse of the load runs: 20 ms per call, 20% transient errors (seeded)."""
    return Warehouse(latency=0.02, error_rate=0.2, seed=seed)


@contextmanager
def served(parts: Parts, *, warehouse: Warehouse | None = None, **options) -> Iterator[tuple[Service, RunningServer]]:
    """The service made of ``parts`` (:func:`~course_lib.capstone.service.capstone_service`), served by
    uvicorn on 127.0.0.1 while the block runs; the server stops and the data go on exit."""
    with capstone_service(parts, warehouse=warehouse or load_warehouse(), **options) as service:
        with serve_in_thread(service.app) as server:
            yield service, server


def run_mix(
    url: str, paths: Sequence[str], *, rate: float, seed: int = 0, timeout: float = 5.0, name: str = "capstone mix"
) -> LoadResult:
    """Send ``paths`` in order on a Poisson schedule of ``rate`` per second (an open loop).

    Each request is timed from its intended start; requests unanswered ``timeout`` seconds after
    the last start are cancelled and count as unfinished (status -1).
    """
    offsets = poisson_schedule(rate, len(paths) / rate * 1.5 + 1, seed)[: len(paths)]
    if offsets.size < len(paths):
        raise ValueError("the schedule is shorter than the workload: lower the number of paths")
    return run_open(url, offsets, paths=paths, warmup="/books?limit=1", timeout=timeout, max_in_flight=200, name=name)


@dataclass(frozen=True)
class Verdict:
    """A run against the SLO: p50 and p99 of latency (s, unfinished requests count as ``timeout``),
    the error rate (anything but 200, unfinished included), and whether the SLO holds."""

    name: str
    requests: int
    p50: float
    p99: float
    error_rate: float
    slo_p99: float
    slo_errors: float

    @property
    def met(self) -> bool:
        return self.p99 <= self.slo_p99 and self.error_rate <= self.slo_errors

    def __str__(self) -> str:
        return (
            f"{self.name}: {self.requests} requests, p50 {self.p50 * 1e3:.1f} ms, p99 {self.p99 * 1e3:.1f} ms, "
            f"errors {self.error_rate:.1%}: SLO (p99 <= {self.slo_p99 * 1e3:.0f} ms, errors <= "
            f"{self.slo_errors:.0%}) {'met' if self.met else 'NOT met'}"
        )


def verdict(result: LoadResult, *, slo_p99: float = 0.1, slo_errors: float = 0.01, timeout: float = 5.0) -> Verdict:
    """Judge ``result`` against an SLO of ``slo_p99`` seconds at p99 and ``slo_errors`` errors."""
    latency = np.where(np.isfinite(result.latency), result.latency, timeout)
    return Verdict(
        result.name,
        result.requests,
        float(np.percentile(latency, 50)),
        float(np.percentile(latency, 99)),
        float(np.mean(result.status != 200)),
        slo_p99,
        slo_errors,
    )
