"""What the self-checks of exercise 01 (performance fundamentals) need beyond the general checks.

The general checks (:mod:`course_lib.checks.core`) compare the student's functions with
numpy; task (d) also needs the exercise's latency sample, made here so that the notebook and
its self-check read the same numbers from one place. :func:`results_and_inputs` calls a
student's function on copies of a check's cases and gives back what it returned and what its
arguments looked like afterwards: both go to the grader (:func:`course_lib.checks.probe.probe`),
so an answer that changes the caller's data differs from the reference even where its results agree.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from course_lib.checks.calls import _resolve, spying
from course_lib.checks.core import _failure, _name

__all__ = ["checkout_latencies_ms", "results_and_inputs"]


def results_and_inputs(
    func: Callable[..., Any], cases: Iterable[Sequence[Any]], *, must_not_call: Sequence[str] = ()
) -> tuple[list[Any], list[tuple[Any, ...]]]:
    """``func(*case)`` for a fresh copy of each case: the results, and each copy as the call left it.

    A call to one of ``must_not_call`` (dotted names) fails the check here, in plain words.

    >>> def smallest(values):
    ...     values.sort()  # sorts the caller's list: the copy shows it
    ...     return values[0]
    >>> results_and_inputs(smallest, [([3, 1, 2],)])
    ([1], [([1, 2, 3],)])
    """
    targets = [(name, *_resolve(name)) for name in must_not_call]
    results, after = [], []
    for case in cases:
        args = copy.deepcopy(tuple(case))
        with spying(targets) as calls:
            results.append(func(*args))
        if calls:
            used = ", ".join(sorted(set(calls)))
            raise _failure(
                f"{_name(func)} on the check's cases",
                show_values=False,
                detail=f"`{_name(func)}` called {used}; this task asks you to compute the result yourself",
            )
        after.append(args)
    return results, after


def checkout_latencies_ms(n: int = 10_000, seed: int = 1) -> np.ndarray:
    """Seeded latencies (ms, one decimal) of a service with a fast path and, for about 3% of requests, a slow one.

    The fast path is lognormal around 42 ms, the slow path (say, a cache miss) around 320 ms.

    >>> checkout_latencies_ms(5, seed=1)
    array([42.4, 49.5, 33.7, 40. , 36.3])
    """
    rng = np.random.default_rng(seed)
    slow_path = rng.random(n) < 0.03  # roughly 3% of requests take the slow path
    return np.where(slow_path, rng.lognormal(np.log(320), 0.35, n), rng.lognormal(np.log(42), 0.3, n)).round(1)
