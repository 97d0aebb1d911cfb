"""A server to load-test: known service times, a known number of workers, stalls on demand.

:class:`QueueService` is a tiny ASGI app. ``GET /work`` waits for one of ``workers`` workers
(first come, first served), holds it for a service time drawn from a seeded generator
(exponential, as in the M/M/1 model of lesson 01, or constant), and answers ``ok``. The
"work" is an ``asyncio.sleep`` to a computed end, so the server's capacity is set by the numbers
you choose, not by how busy the machine is: ``workers / service_time`` requests per second.
``GET /`` answers at once (a health check); ``GET /catalogue`` answers at once with a JSON
page of ``catalogue_items`` books (cheap to send, not so cheap for a client to parse).
:meth:`QueueService.stall` freezes it for a known time: no response leaves the server during a
stall, as in a long garbage-collection pause.

:func:`serve_queue` runs it under uvicorn on 127.0.0.1 in a background thread (with
:func:`course_lib.monitoring.server.serve_in_thread`), and stops it when the block ends, also
on error::

    >>> import httpx
    >>> with serve_queue(service_time=0.001, workers=2) as (url, service):
    ...     [httpx.get(url + "/work").text for _ in range(3)]
    ['ok', 'ok', 'ok']
    >>> service.served, service.capacity
    (3, 2000.0)
"""

from __future__ import annotations

import asyncio
import heapq
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import numpy as np

from course_lib.monitoring.server import serve_in_thread

__all__ = ["QueueService", "serve_queue"]


class QueueService:
    """An ASGI app with ``workers`` workers and seeded service times (see the module docstring).

    ``service_time`` is the mean in seconds; ``distribution`` is ``"exponential"`` or
    ``"constant"``. The k-th request to start service gets the k-th draw of
    ``numpy.random.default_rng(seed)``, so the total work of a run is known in advance.

    >>> QueueService(service_time=0.01, workers=1).capacity
    100.0
    """

    def __init__(
        self,
        service_time: float = 0.01,
        workers: int = 1,
        distribution: Literal["exponential", "constant"] = "exponential",
        seed: int = 0,
        catalogue_items: int = 2000,
    ) -> None:
        if not service_time > 0:
            raise ValueError(f"service_time is a mean in seconds and must be > 0, got {service_time!r}")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a whole number >= 1, got {workers!r}")
        if distribution not in ("exponential", "constant"):
            raise ValueError(f"distribution must be 'exponential' or 'constant', got {distribution!r}")
        self.service_time, self.workers, self.distribution = float(service_time), workers, distribution
        self._rng = np.random.default_rng(seed)
        self._slots: asyncio.Semaphore | None = None  # made on the server's event loop
        self._free_at = [0.0] * workers  # a heap: when each worker finishes its current request
        self.stalls: list[tuple[float, float]] = []  # (start, end) in time.perf_counter() seconds
        self._armed: tuple[float, float] | None = None
        self.served = 0
        books = [
            {"id": i, "title": f"Book {i}", "price_cents": 500 + i % 3000, "tags": ["a", "b"]}
            for i in range(catalogue_items)
        ]
        self._catalogue = json.dumps(books).encode()

    @property
    def capacity(self) -> float:
        """The most requests per second it can serve: ``workers / service_time``."""
        return self.workers / self.service_time

    def stall(self, seconds: float, *, after: float = 0.0) -> tuple[float, float]:
        """Freeze the server for ``seconds``, starting ``after`` seconds from now.

        Returns the stall's ``(start, end)`` as ``time.perf_counter()`` values (this process's
        clock, the one the course's load generator uses), also kept in :attr:`stalls`.
        """
        start = time.perf_counter() + after
        self.stalls.append((start, start + seconds))
        return self.stalls[-1]

    def stall_after_first_request(self, seconds: float, *, after: float) -> None:
        """Freeze for ``seconds``, ``after`` seconds after the next request arrives.

        For a load tool started in another process (Locust): the stall is placed relative to
        its first request, whenever that comes. The stall then appears in :attr:`stalls`.
        """
        self._armed = (seconds, after)

    def _after_stalls(self, t: float) -> float:
        """``t``, or the end of the stall that ``t`` falls in."""
        for start, end in self.stalls:
            if start <= t < end:
                t = end
        return t

    async def _hold(self) -> None:
        """Wait while the server is stalled."""
        now = time.perf_counter()
        await asyncio.sleep(self._after_stalls(now) - now)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # nothing to set up; tell uvicorn so
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if self._armed is not None:
            seconds, after = self._armed
            self._armed = None
            self.stall(seconds, after=after)
        status, body, kind = 200, b"ok", b"text/plain"
        if scope["path"] == "/work":
            if self._slots is None:
                self._slots = asyncio.Semaphore(self.workers)
            arrived = time.perf_counter()
            async with self._slots:  # queue for a worker, first come first served
                # Service starts when the request arrived or when this worker finished the previous
                # one, whichever is later, and not during a stall; the sleep runs to the computed end.
                # So the event loop's own delays do not add up: the queue keeps the model's clock.
                start = self._after_stalls(max(arrived, heapq.heappop(self._free_at)))
                draw = self._rng.exponential() if self.distribution == "exponential" else 1.0
                end = start + draw * self.service_time
                heapq.heappush(self._free_at, end)
                await asyncio.sleep(max(0.0, end - time.perf_counter()))
                await self._hold()  # a response finished during a stall leaves when it ends
                self.served += 1
        elif scope["path"] == "/catalogue":
            body, kind = self._catalogue, b"application/json"
        elif scope["path"] != "/":
            status, body = 404, b"not found: try /work or /"
        headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@contextmanager
def serve_queue(
    service_time: float = 0.01,
    workers: int = 1,
    distribution: Literal["exponential", "constant"] = "exponential",
    seed: int = 0,
    **server_options: Any,
) -> Iterator[tuple[str, QueueService]]:
    """Serve a new :class:`QueueService` on 127.0.0.1 while the block runs; yields ``(url, service)``.

    The server stops when the block ends, also when it raises. ``server_options`` go to
    :func:`~course_lib.monitoring.server.serve_in_thread` (and on to uvicorn).
    """
    service = QueueService(service_time, workers, distribution, seed)
    server_options.setdefault("backlog", 4096)
    with serve_in_thread(service, **server_options) as server:
        yield server.url, service
