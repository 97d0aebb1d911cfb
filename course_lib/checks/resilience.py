"""Self-checks for exercise 06 (load testing and resilience), in plain words (see :mod:`course_lib.checks`).

Everything runs on a fake clock or on recorded times, so no verdict depends on how fast the
machine is.

- :func:`drive_breaker` runs a breaker through a script of calls, outcomes and clock advances and
  returns what it said at each step; :func:`check_breaker` compares that with the course's
  :class:`~course_lib.resilience.breaker.CircuitBreaker` and explains the first difference;
  :func:`random_breaker_script` makes other scripts.
- :func:`omission_records` records a schedule the way a load generator with few connections
  does (intended start, sent, finished), against a server that stalls.
- :func:`balancer_events` makes a trace of requests and health probes for a balancer.

A script is a list of steps: ``"allow"`` asks the breaker whether a call may go through, ``"ok"``
and ``"fail"`` report the outcome of a call it let through, and a number moves the clock forward
by that many seconds:

>>> from course_lib.resilience.breaker import CircuitBreaker
>>> course = lambda threshold, timeout, clock: CircuitBreaker(threshold, timeout, clock=clock)
>>> drive_breaker(course, 1, 5, ["allow", "fail", "allow", 5, "allow", "ok"])
[[True, 'closed'], [None, 'open'], [False, 'open'], [None, 'open'], [True, 'half-open'], [None, 'closed']]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from course_lib.caching.clock import FakeClock
from course_lib.checks.core import _error_summary, _not_implemented, check_true, passed
from course_lib.loadtest.omission import simulate_sender, stalled_server
from course_lib.resilience.breaker import CircuitBreaker

__all__ = ["balancer_events", "check_breaker", "drive_breaker", "omission_records", "random_breaker_script"]

Step = str | int | float


def _course_breaker(failure_threshold: int, reset_timeout: float, clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold, reset_timeout, clock=clock)


def drive_breaker(
    make: Callable[..., Any], failure_threshold: int, reset_timeout: float, script: Sequence[Step]
) -> list:
    """``[allowed, state]`` after each step of ``script`` (``allowed`` is ``None`` for other steps).

    The breaker is ``make(failure_threshold, reset_timeout, clock)`` on a :class:`FakeClock` at 0.
    """
    clock = FakeClock()
    breaker = make(failure_threshold, reset_timeout, clock)
    seen = []
    for step in script:
        allowed = None
        if step == "allow":
            allowed = breaker.allow()
        elif step in ("ok", "fail"):
            breaker.record(step == "ok")
        else:
            clock.advance(step)
        seen.append([allowed, breaker.state])
    return seen


def _step_words(script: Sequence[Step], index: int) -> str:
    now = sum(s for s in script[:index] if not isinstance(s, str))
    step = script[index]
    what = {"allow": "allow()", "ok": "record(True)", "fail": "record(False)"}.get(
        step, f"advancing the clock {step} s"
    )
    return f"step {index + 1} ({what} at t = {now:g})"


def check_breaker(
    make: Callable[..., Any], failure_threshold: int, reset_timeout: float, script: Sequence[Step], *, what: str
) -> list:
    """Drive ``make`` through ``script`` next to the course's breaker; explain the first difference.

    Returns what the student's breaker said (for :func:`course_lib.checks.probe.probe`).
    """
    try:
        seen = drive_breaker(make, failure_threshold, reset_timeout, script)
    except NotImplementedError as err:
        raise _not_implemented(make, "Breaker") from err
    except Exception as err:
        check_true(False, f"{what}: your breaker raised {_error_summary(err)}", hint="run the script by hand")
    expected = drive_breaker(_course_breaker, failure_threshold, reset_timeout, script)
    for index, (got, want) in enumerate(zip(seen, expected, strict=True)):
        if got != want:
            said = "" if want[0] is None else f"allow() should return {want[0]}, got {got[0]}; "
            check_true(
                False,
                f"{what}, {_step_words(script, index)}: {said}the state should be {want[1]!r}, got {got[1]!r}",
                hint="steps so far: " + ", ".join(str(s) for s in script[: index + 1]),
            )
    passed(f"{what}: all {len(script)} steps as expected")
    return seen


def random_breaker_script(rng: np.random.Generator, steps: int = 60) -> tuple[int, int, list[Step]]:
    """``(failure_threshold, reset_timeout, script)``: random calls, outcomes and whole-second advances.

    Outcomes are reported only for calls the breaker let through; in the half-open state only for
    the trial call (calls let through before the breaker opened are never answered after that).
    """
    threshold, timeout = int(rng.integers(1, 5)), int(rng.integers(2, 12))
    failing = float(rng.uniform(0.3, 0.9))
    clock = FakeClock()
    course = _course_breaker(threshold, timeout, clock)
    script: list[Step] = []
    waiting = 0  # calls let through and not answered yet
    while len(script) < steps:
        kind = rng.choice(["allow", "answer", "advance"], p=[0.45, 0.4, 0.15])
        if kind == "advance":
            step: Step = int(rng.integers(1, timeout + 2))
            clock.advance(step)
        elif kind == "answer" and waiting:
            step = "fail" if rng.random() < failing else "ok"
            trial = course.state == "half-open"
            course.record(step == "ok")
            waiting = 0 if trial else waiting - 1
        else:
            before = course.state
            step = "allow"
            if course.allow():
                waiting = 1 if before != course.state else waiting + 1
        script.append(step)
    return threshold, timeout, script


def omission_records(
    rng: np.random.Generator, n: int = 400, connections: int = 2
) -> tuple[list[tuple[float, float | None, float | None]], float]:
    """``(records, test_end)``: ``(intended, started, finished)`` per request of a constant schedule,
    sent by ``connections`` waiting connections to a server that stalls twice; times in seconds.

    The second stall lasts past ``test_end``, when the test stops: requests not answered by then
    have ``finished`` ``None``, and those not even sent have ``started`` ``None`` as well.

    >>> records, test_end = omission_records(np.random.default_rng(1), n=200)
    >>> sum(f is None for _, _, f in records) > sum(s is None for _, s, _ in records) > 0
    True
    """
    interval = float(rng.choice([0.005, 0.01, 0.02]))
    intended = np.arange(n) * interval
    test_end = float(n * interval)
    middle = float(rng.uniform(0.2, 0.6)) * test_end
    last = test_end - float(rng.uniform(0.1, 0.3)) * test_end
    stalls = [(middle, middle + float(rng.uniform(0.05, 0.1)) * test_end), (last, test_end + 1.0)]
    sent, done = simulate_sender(
        intended, stalled_server(float(rng.uniform(0.001, 0.004)), stalls), connections=connections
    )
    records = [
        (float(i), float(s) if s <= test_end else None, float(d) if d <= test_end else None)
        for i, s, d in zip(intended, sent, done, strict=True)
    ]
    return records, test_end


def balancer_events(rng: np.random.Generator, n_servers: int = 4, n_events: int = 300) -> list[tuple]:
    """A trace for a balancer: ``("request", t, duration)`` and ``("probe", t, server, ok)`` events,
    in time order, in whole milliseconds; several events share a time, and some requests end exactly
    when another arrives. Each server fails its probes for a stretch of the trace.
    """
    broken = [sorted(rng.integers(0, n_events * 6, size=2).tolist()) for _ in range(n_servers)]
    events: list[tuple] = []
    t = 0
    while len(events) < n_events:
        t += int(rng.choice([0, 0, 1, 2, 5, 10]))
        if rng.random() < 0.2:
            server = int(rng.integers(0, n_servers))
            low, high = broken[server]
            events.append(("probe", t, server, not (low <= t < high) or bool(rng.random() < 0.1)))
        else:
            events.append(("request", t, int(rng.choice([1, 2, 5, 10, 20, 40]))))
    return events
