"""Liveness and readiness endpoints, with a timeout per dependency and a cached result.

- **Liveness** (``GET /health/live``) answers "is this process able to serve at all?". It
  checks nothing outside the process: if the database is down, restarting the web server
  does not bring it back, so liveness stays 200.
- **Readiness** (``GET /health/ready``) answers "should traffic be sent here now?". It runs
  one check per dependency (database, cache, ...) concurrently, each bounded by its own
  timeout, and answers 200 when all pass and 503 with the failures otherwise.

A dependency that hangs is the classic trap: without a timeout the readiness probe hangs
with it, the orchestrator's probe times out, and the reason is lost. A timeout turns the
hang into a prompt, explained 503. Probes also arrive often and from many places (each
load balancer, each orchestrator node), so the result is cached for ``cache_seconds``, and
concurrent probes share one run of the checks::

    >>> import asyncio
    >>> calls = []
    >>> checker = HealthChecker({"database": lambda: calls.append(1)}, cache_seconds=60)
    >>> report = asyncio.run(checker.readiness())
    >>> report.ok, report.dependencies["database"].ok
    (True, True)
    >>> _ = asyncio.run(checker.readiness())          # from the cache
    >>> len(calls), checker.runs
    (1, 1)
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["DependencyResult", "ReadinessReport", "HealthChecker", "health_router"]

Check = Callable[[], Any]  #: a function or coroutine function; passing = returns without raising


@dataclass(frozen=True)
class DependencyResult:
    """The outcome of one dependency's check."""

    ok: bool
    seconds: float  #: how long the check took (at most about its timeout)
    error: str = ""  #: why it failed, in plain words


@dataclass(frozen=True)
class ReadinessReport:
    """All dependencies' results, when they were checked, and whether this came from the cache."""

    ok: bool
    checked_at: float
    dependencies: dict[str, DependencyResult] = field(default_factory=dict)
    cached: bool = False

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "status": "ready" if self.ok else "not ready",
            "cached": self.cached,
            "age_seconds": round(now - self.checked_at, 3),
            "dependencies": {name: asdict(result) for name, result in self.dependencies.items()},
        }


class HealthChecker:
    """Runs the readiness checks: concurrently, each with a timeout, the result cached.

    ``checks`` maps a dependency's name to a function (run in a worker thread) or a
    coroutine function; a check passes when it returns without raising. ``timeout`` is
    in seconds, one number for all or a mapping per name (``None``: no timeout, which
    the lesson shows is a mistake). ``clock`` is injectable for tests. ``runs`` counts
    how many times the checks actually ran.
    """

    def __init__(
        self,
        checks: Mapping[str, Check],
        *,
        timeout: float | None | Mapping[str, float | None] = 1.0,
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.checks = dict(checks)
        self.timeouts = {
            name: (timeout.get(name, 1.0) if isinstance(timeout, Mapping) else timeout) for name in self.checks
        }
        self.cache_seconds = cache_seconds
        self.clock = clock
        self.runs = 0
        self._cached: ReadinessReport | None = None
        self._locks: dict[int, asyncio.Lock] = {}

    async def _check_one(self, name: str) -> DependencyResult:
        check, timeout = self.checks[name], self.timeouts[name]
        start = time.perf_counter()
        try:
            if inspect.iscoroutinefunction(check):
                work: Awaitable[Any] = check()
            else:  # a blocking call must not block the event loop: run it in a thread
                work = asyncio.to_thread(check)
            await asyncio.wait_for(work, timeout)
        except TimeoutError:
            return DependencyResult(False, time.perf_counter() - start, f"no answer within {timeout} s")
        except Exception as error:
            return DependencyResult(False, time.perf_counter() - start, f"{type(error).__name__}: {error}")
        return DependencyResult(True, time.perf_counter() - start)

    async def readiness(self) -> ReadinessReport:
        """The cached report if it is younger than ``cache_seconds``, else a fresh one."""
        lock = self._locks.setdefault(id(asyncio.get_running_loop()), asyncio.Lock())
        async with lock:  # concurrent probes wait for one run instead of starting their own
            now = self.clock()
            if self._cached is not None and now - self._cached.checked_at < self.cache_seconds:
                return ReadinessReport(self._cached.ok, self._cached.checked_at, self._cached.dependencies, True)
            names = list(self.checks)
            results = await asyncio.gather(*(self._check_one(name) for name in names))
            self.runs += 1
            dependencies = dict(zip(names, results))
            self._cached = ReadinessReport(all(r.ok for r in results), self.clock(), dependencies)
            return self._cached


def health_router(checker: HealthChecker, *, prefix: str = "/health"):
    """A FastAPI ``APIRouter`` with ``GET {prefix}/live`` and ``GET {prefix}/ready``.

    Add it with ``app.include_router(health_router(checker))``.
    """
    from fastapi import APIRouter
    from fastapi.responses import JSONResponse

    router = APIRouter(prefix=prefix, tags=["health"])

    @router.get("/live")
    async def live() -> dict[str, str]:
        return {"status": "alive"}

    @router.get("/ready")
    async def ready() -> JSONResponse:
        report = await checker.readiness()
        return JSONResponse(report.to_json(checker.clock()), status_code=200 if report.ok else 503)

    return router
