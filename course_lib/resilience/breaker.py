"""A circuit breaker (closed, open, half-open) on an injectable clock, and pybreaker on the same clock.

The breaker sits between a caller and a dependency (Nygard, *Release It!*, 2nd ed., 2018,
"Circuit Breaker"). **Closed**: calls go through; ``failure_threshold`` consecutive failures
open it. **Open**: calls fail at once, without reaching the dependency, for ``reset_timeout``
seconds. **Half-open**: one trial call goes through; its success closes the breaker, its failure
opens it again for another ``reset_timeout``.

>>> from course_lib.caching.clock import FakeClock
>>> clock = FakeClock()
>>> breaker = CircuitBreaker(failure_threshold=2, reset_timeout=10, clock=clock)
>>> breaker.record(False); breaker.record(False); breaker.state
'open'
>>> breaker.allow()                 # open: rejected without calling
False
>>> clock.advance(10); breaker.allow(), breaker.state
10.0
(True, 'half-open')
>>> breaker.allow()                 # one trial at a time
False
>>> breaker.record(True); breaker.state
'closed'
"""

from __future__ import annotations

import contextlib
import datetime as _datetime
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from course_lib.caching.clock import Clock, FakeClock

__all__ = ["CircuitBreaker", "CircuitOpenError", "pybreaker_on_clock", "run_script"]

T = TypeVar("T")
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitOpenError(RuntimeError):
    """Raised by :meth:`CircuitBreaker.call` instead of calling while the breaker is open."""


class CircuitBreaker:
    """Consecutive-failure circuit breaker; time comes from ``clock`` (a FakeClock in simulations).

    Use :meth:`call` around a function, or :meth:`allow` before a call and :meth:`record` with its
    outcome (as the event simulation does, where a call's answer comes back later).
    ``transitions`` lists ``(time, old_state, new_state)``.
    """

    def __init__(self, failure_threshold: int = 5, reset_timeout: float = 10.0, *, clock: Clock) -> None:
        if failure_threshold < 1 or reset_timeout <= 0:
            raise ValueError("failure_threshold must be >= 1 and reset_timeout > 0 seconds")
        self.failure_threshold, self.reset_timeout, self.clock = failure_threshold, reset_timeout, clock
        self.state = CLOSED
        self.failures = 0  # consecutive failures while closed
        self.opened_at = 0.0
        self.trial_in_flight = False
        self.rejected = 0
        self.transitions: list[tuple[float, str, str]] = []

    def _move(self, new: str) -> None:
        self.transitions.append((self.clock(), self.state, new))
        self.state = new

    def allow(self) -> bool:
        """Whether a call may go to the dependency now (counts a rejection if not)."""
        if self.state == OPEN and self.clock() >= self.opened_at + self.reset_timeout:
            self._move(HALF_OPEN)
        if self.state == CLOSED or (self.state == HALF_OPEN and not self.trial_in_flight):
            self.trial_in_flight = self.state == HALF_OPEN
            return True
        self.rejected += 1
        return False

    def record(self, ok: bool) -> None:
        """Report the outcome of a call that :meth:`allow` let through."""
        if self.state == HALF_OPEN:
            self.trial_in_flight = False
            self._open() if not ok else self._close()
        elif self.state == CLOSED:
            self.failures = 0 if ok else self.failures + 1
            if self.failures >= self.failure_threshold:
                self._open()
        # OPEN: the answer to a call made before the breaker opened; nothing to change

    def _open(self) -> None:
        self.opened_at = self.clock()
        self._move(OPEN)

    def _close(self) -> None:
        self.failures = 0
        self._move(CLOSED)

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` if the breaker allows it, recording the outcome; else :class:`CircuitOpenError`."""
        if not self.allow():
            raise CircuitOpenError(f"circuit open since t={self.opened_at:g}; not calling")
        try:
            result = fn()
        except Exception:
            self.record(False)
            raise
        self.record(True)
        return result


@contextlib.contextmanager
def pybreaker_on_clock(clock: FakeClock) -> Iterator[None]:
    """Make ``pybreaker`` read ``clock`` instead of the wall clock, inside the ``with`` block.

    pybreaker (1.x) asks ``datetime.now(UTC)`` when it opens and when it checks whether
    ``reset_timeout`` has passed; this swaps the ``datetime`` name in its module for one whose
    ``now()`` is the fake clock's time (seconds after the Unix epoch), and puts it back afterwards.
    """
    import pybreaker

    class _ClockDatetime(_datetime.datetime):
        @classmethod
        def now(cls, tz: _datetime.tzinfo | None = None) -> _datetime.datetime:
            return _datetime.datetime.fromtimestamp(clock(), tz=tz or _datetime.UTC)

    original = pybreaker.datetime
    pybreaker.datetime = _ClockDatetime
    try:
        yield
    finally:
        pybreaker.datetime = original


def run_script(
    call: Callable[[Callable[[], str]], str],
    state: Callable[[], str],
    clock: FakeClock,
    script: Sequence[tuple[float, bool]],
) -> list[tuple[float, str, str]]:
    """Drive a breaker through ``script``: a list of ``(time, dependency_ok)``.

    At each time the clock is set, ``call(fn)`` is made with a ``fn`` that succeeds or raises
    as the script says, and a row ``(time, what happened, state afterwards)`` is kept, where what
    happened is ``"ok"``, ``"failed"`` or ``"rejected"`` (the breaker did not call ``fn``). The
    same script through two breakers shows whether they behave alike.
    """

    class _Failure(RuntimeError):
        pass

    rows = []
    for when, ok in script:
        clock.set(when)
        reached = []

        def fn(ok: bool = ok, reached: list = reached) -> str:
            reached.append(True)
            if not ok:
                raise _Failure("dependency failed")
            return "ok"

        try:
            call(fn)
            outcome = "ok"
        except Exception:
            outcome = "failed" if reached else "rejected"
        rows.append((when, outcome, state()))
    return rows
