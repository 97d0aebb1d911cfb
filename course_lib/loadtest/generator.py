"""A load generator you can read in one sitting: closed and open loops, timed from the intended start.

Two ways to make load (module 06):

- :func:`run_closed`: a **closed loop**. ``users`` simulated users each send a request, wait
  for the answer, think for ``think`` seconds, and send the next. The server's speed sets
  the pace: when it slows down, the users send less.
- :func:`run_open`: an **open loop**. Requests start at the times of a schedule
  (:func:`constant_schedule`, :func:`poisson_schedule`), whatever the server does, each on
  its own task; a slow server means more requests in flight, not fewer requests.

Both record, for every request, when it was *meant* to start (``intended``), when it was sent
(``sent``) and when its answer was complete (``done``), in seconds from the start of the run.
The latency a user experiences is ``done - intended``: time spent waiting to be sent counts.
A tool that starts its clock at ``sent`` instead measures ``done - sent``, and misses exactly
the waiting that a stalled server causes (coordinated omission, :mod:`.omission`).

Both are bounded: at most :data:`MAX_REQUESTS` requests and :data:`MAX_SECONDS` of schedule,
each request at most ``timeout`` seconds; and both refuse any host but this machine.

>>> constant_schedule(rate=4, seconds=1).tolist()
[0.0, 0.25, 0.5, 0.75]
>>> check_local_url("http://example.com")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: the load generator only sends to this machine (127.0.0.1, localhost or ::1); got host 'example.com' ...
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import time
from collections.abc import Coroutine, Sequence
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from course_lib.loadtest.client import HttpClient
from course_lib.loadtest.results import LoadResult

__all__ = [
    "MAX_REQUESTS",
    "MAX_SECONDS",
    "check_local_url",
    "constant_schedule",
    "poisson_schedule",
    "run_closed",
    "run_open",
]

#: The most requests one run may send, and the longest schedule (seconds) it may follow.
MAX_REQUESTS = 20_000
MAX_SECONDS = 60.0


def check_local_url(url: str) -> str:
    """``url`` if it is ``http://`` to a loopback address, else a ``ValueError`` saying why.

    >>> check_local_url("http://127.0.0.1:8000")
    'http://127.0.0.1:8000'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = host == "localhost"
    if parts.scheme != "http" or not local:
        raise ValueError(
            "the load generator only sends to this machine (127.0.0.1, localhost or ::1); "
            f"got host {host!r} in {url!r}. Start a local server (course_lib.loadtest.serve_queue) and use its url."
        )
    return url


def _check_rate(rate: float, seconds: float) -> None:
    if not (rate > 0 and 0 < seconds <= MAX_SECONDS):
        raise ValueError(f"need rate > 0 and 0 < seconds <= {MAX_SECONDS}; got rate={rate!r}, seconds={seconds!r}")
    if rate * seconds > MAX_REQUESTS:
        raise ValueError(f"rate x seconds = {rate * seconds:.0f} requests is over MAX_REQUESTS = {MAX_REQUESTS}")


def constant_schedule(rate: float, seconds: float) -> np.ndarray:
    """Start times (seconds from 0) of requests arriving every ``1 / rate`` seconds for ``seconds``."""
    _check_rate(rate, seconds)
    return np.arange(int(round(rate * seconds))) / rate


def poisson_schedule(rate: float, seconds: float, seed: int) -> np.ndarray:
    """Start times of a Poisson process of ``rate`` per second over ``seconds`` (gaps exponential).

    Independent users arriving at random look like this; it is the "M" of M/M/1.

    >>> times = poisson_schedule(rate=100, seconds=10, seed=1)
    >>> 900 < len(times) < 1100, bool(times.max() < 10)
    (True, True)
    """
    _check_rate(rate, seconds)
    gaps = np.random.default_rng(seed).exponential(1 / rate, size=int(rate * seconds * 1.5) + 20)
    times = np.cumsum(gaps) - gaps[0]  # the first request at time 0
    return times[times < seconds]


#: What a failed request raises: refused or reset connections, timeouts, truncated answers.
FAILURES = (OSError, TimeoutError, EOFError, ValueError)


def _run(coroutine: Coroutine[Any, Any, LoadResult]) -> LoadResult:
    """Run ``coroutine`` on a fresh event loop in a worker thread (a notebook's own loop is busy)."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="course-load") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def run_open(
    url: str,
    schedule: np.ndarray,
    *,
    path: str = "/work",
    paths: Sequence[str] | None = None,
    warmup: str = "/",
    timeout: float = 10.0,
    max_in_flight: int = 1000,
    name: str = "open loop",
) -> LoadResult:
    """Send one ``GET path`` at each time of ``schedule`` (seconds from the start); wait for all.

    ``paths``, if given, holds one path per scheduled request (a workload mix) instead of ``path``;
    ``warmup`` is requested once before the clock starts (not recorded), to open the first connection.

    Each request runs on its own task, so a slow answer delays no other request; at most
    ``max_in_flight`` connections are open at once (beyond that, requests wait for one, and
    the wait counts in their latency). Requests still unanswered ``timeout`` seconds after the
    last start are cancelled and counted as unfinished.
    """
    check_local_url(url)
    offsets = np.asarray(schedule, dtype=float)
    if offsets.ndim != 1 or offsets.size == 0 or np.any(np.diff(offsets) < 0) or offsets[0] < 0:
        raise ValueError("schedule must be a non-empty, sorted array of start times >= 0 (seconds)")
    if offsets.size > MAX_REQUESTS or offsets[-1] > MAX_SECONDS:
        raise ValueError(f"the schedule is over the bounds: {MAX_REQUESTS} requests, {MAX_SECONDS} s")
    paths = [path] * offsets.size if paths is None else list(paths)
    if len(paths) != offsets.size:
        raise ValueError(f"{len(paths)} paths for {offsets.size} scheduled requests: give one path per request")

    async def main() -> LoadResult:
        n = offsets.size
        sent, done, status = np.full(n, np.nan), np.full(n, np.nan), np.full(n, -1)
        async with HttpClient(url, max_connections=max_in_flight, timeout=timeout) as client:
            await client.get(warmup)  # one warm-up request, not recorded: the first connection
            t0 = time.perf_counter()

            async def one(i: int) -> None:
                sent[i] = time.perf_counter() - t0
                try:
                    status[i] = await client.get(paths[i])
                except FAILURES:
                    status[i] = 0
                done[i] = time.perf_counter() - t0

            tasks = []
            for i, start in enumerate(offsets):
                if (wait := t0 + start - time.perf_counter()) > 0:
                    await asyncio.sleep(wait)
                tasks.append(asyncio.create_task(one(i)))
            await asyncio.wait(tasks, timeout=timeout)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        status[np.isnan(done)] = -1
        return LoadResult(name, offsets, sent, done, status, t0=t0, seconds=float(offsets[-1]), kind="open")

    return _run(main())


def run_closed(
    url: str,
    users: int,
    seconds: float,
    *,
    think: float = 0.0,
    path: str = "/work",
    timeout: float = 10.0,
    max_requests: int = MAX_REQUESTS,
    seed: int = 0,
    name: str | None = None,
) -> LoadResult:
    """``users`` users, each: send ``GET path``, wait for the answer, think ``think`` seconds, repeat.

    Users start at random moments within the first ``think`` seconds (seeded), so that they
    do not march in step. A user's next request is *intended* to start when its thinking ends.
    No user starts a request after ``seconds`` or after ``max_requests`` have been started.
    """
    check_local_url(url)
    if isinstance(users, bool) or not isinstance(users, int) or users < 1:
        raise ValueError(f"users must be a whole number >= 1, got {users!r}")
    if not (0 < seconds <= MAX_SECONDS and think >= 0 and 0 < max_requests <= MAX_REQUESTS):
        raise ValueError(f"need 0 < seconds <= {MAX_SECONDS}, think >= 0, 0 < max_requests <= {MAX_REQUESTS}")
    rng = np.random.default_rng(seed)
    first = np.sort(rng.uniform(0, think, size=users)) if think else np.zeros(users)

    async def main() -> LoadResult:
        rows: list[tuple[float, float, float, int]] = []
        async with HttpClient(url, max_connections=users, timeout=timeout) as client:
            await client.get("/")  # warm-up, not recorded
            t0 = time.perf_counter()

            async def user(intended: float) -> None:
                while intended < seconds and len(rows) < max_requests:
                    await asyncio.sleep(max(0.0, t0 + intended - time.perf_counter()))
                    sent = time.perf_counter() - t0
                    try:
                        status = await client.get(path)
                    except FAILURES:
                        status = 0
                    done = time.perf_counter() - t0
                    rows.append((intended, sent, done, status))
                    intended = done + think

            await asyncio.gather(*(user(float(start)) for start in first))
        table = np.array(rows, dtype=float).reshape(-1, 4)
        table = table[np.argsort(table[:, 0], kind="stable")]  # in order of intended start
        intended, sent, done, status = table.T
        label = name or f"closed loop, {users} users, think {think * 1000:g} ms"
        return LoadResult(label, intended, sent, done, status.astype(int), t0=t0, seconds=seconds)

    return _run(main())
