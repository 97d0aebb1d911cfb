"""A timing decorator: :class:`TimingRecorder` times the calls and blocks you mark, as p50/p95/p99."""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from course_lib.measuring.stats import percentiles

__all__ = ["TimingRecorder"]

F = TypeVar("F", bound=Callable[..., Any])


class TimingRecorder:
    """Keeps the duration of every call of tracked functions and sections, by name.

    ``clock`` is any function returning seconds (``time.perf_counter`` by default; tests
    pass a fake one). With ``max_samples`` only the most recent samples of each name are
    kept (a sliding window), so a long-running process does not grow without bound; the
    call count still counts every call. Recording is safe from several threads (a lock
    guards it).
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter, max_samples: int | None = None) -> None:
        if max_samples is not None and max_samples < 1:
            raise ValueError(f"max_samples must be at least 1 (or None for no limit), got {max_samples!r}")
        self._clock = clock
        self._max = max_samples
        self._samples: dict[str, deque[float]] = {}
        self._calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def record(self, name: str, seconds: float) -> None:
        """Add one duration (seconds) under ``name``."""
        with self._lock:
            self._samples.setdefault(name, deque(maxlen=self._max)).append(seconds)
            self._calls[name] = self._calls.get(name, 0) + 1

    def track(self, fn: F | None = None, *, name: str | None = None) -> Any:
        """Decorator: time every call of ``fn`` (sync or async) under ``name`` (default: its qualified name).

        Use as ``@rec.track`` or ``@rec.track(name="db.query")``. A call that raises is
        timed too; the exception propagates unchanged.
        """

        def decorate(f: F) -> F:
            label = name or getattr(f, "__qualname__", repr(f))
            if inspect.iscoroutinefunction(f):

                @functools.wraps(f)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    start = self._clock()
                    try:
                        return await f(*args, **kwargs)
                    finally:
                        self.record(label, self._clock() - start)

                return async_wrapper  # type: ignore[return-value]

            @functools.wraps(f)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                start = self._clock()
                try:
                    return f(*args, **kwargs)
                finally:
                    self.record(label, self._clock() - start)

            return wrapper  # type: ignore[return-value]

        return decorate if fn is None else decorate(fn)

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        """Context manager: time the ``with`` block under ``name``."""
        start = self._clock()
        try:
            yield
        finally:
            self.record(name, self._clock() - start)

    def names(self) -> list[str]:
        """The names recorded so far, in the order first seen."""
        return list(self._samples)

    def calls(self, name: str) -> int:
        """How many calls of ``name`` were recorded (0 if none)."""
        return self._calls.get(name, 0)

    def samples(self, name: str) -> np.ndarray:
        """The kept durations of ``name`` in seconds, oldest first."""
        if name not in self._samples:
            known = ", ".join(self._samples) or "nothing yet"
            raise KeyError(f"no timings recorded under {name!r}; recorded: {known}")
        return np.array(self._samples[name], dtype=float)

    def summary(self) -> pd.DataFrame:
        """One row per name: calls, total and mean, p50/p95/p99 and max, in milliseconds.

        The percentiles are computed from the kept samples (all of them unless
        ``max_samples`` was given); ``calls`` counts every call.
        """
        rows = {}
        with self._lock:
            snapshot = {name: list(kept) for name, kept in self._samples.items()}
        for name, kept in snapshot.items():
            ms = np.array(kept, dtype=float) * 1e3
            pct = percentiles(ms, (50, 95, 99))
            rows[name] = {
                "calls": self._calls[name],
                "total_ms": ms.sum(),
                "mean_ms": ms.mean(),
                "p50_ms": pct["p50"],
                "p95_ms": pct["p95"],
                "p99_ms": pct["p99"],
                "max_ms": ms.max(),
            }
        columns = ["calls", "total_ms", "mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms"]
        return pd.DataFrame.from_dict(rows, orient="index", columns=columns).rename_axis("name")

    def reset(self) -> None:
        """Forget every sample and count."""
        with self._lock:
            self._samples.clear()
            self._calls.clear()
