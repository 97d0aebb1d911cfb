"""A clock you move by hand, so that anything that depends on time gives the same counts every run.

Caches with a time-to-live, probabilistic early expiry and adaptive TTLs all ask "what time
is it?". With the real clock the answer depends on how fast the machine is; with a
:class:`FakeClock` it depends only on the code:

>>> clock = FakeClock()
>>> clock()
0.0
>>> clock.advance(2.5)
2.5
>>> clock.set(10)
>>> clock.now
10.0
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["Clock", "FakeClock"]

#: Anything that returns the current time in seconds: ``time.monotonic``, ``time.time`` or a FakeClock.
Clock = Callable[[], float]


class FakeClock:
    """A clock that stands still until you call :meth:`advance` or :meth:`set` (thread-safe)."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    @property
    def now(self) -> float:
        """The current time in seconds."""
        return self._now

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (>= 0); returns the new time."""
        if seconds < 0:
            raise ValueError(f"a clock only moves forward; got advance({seconds!r})")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float) -> None:
        """Jump to time ``when`` (not earlier than now)."""
        with self._lock:
            if when < self._now:
                raise ValueError(f"a clock only moves forward: it is {self._now}, cannot set it to {when}")
            self._now = float(when)

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now!r})"
