"""What the self-checks of exercise 01 (performance fundamentals) need beyond the general checks.

The general checks (:mod:`course_lib.checks.core`) compare the student's functions with
numpy; task (d) also needs the exercise's latency sample, made here so that the notebook and
its self-check read the same numbers from one place.
"""

from __future__ import annotations

import numpy as np

__all__ = ["checkout_latencies_ms"]


def checkout_latencies_ms(n: int = 10_000, seed: int = 1) -> np.ndarray:
    """Seeded latencies (ms, one decimal) of a service with a fast path and, for about 3% of requests, a slow one.

    The fast path is lognormal around 42 ms, the slow path (say, a cache miss) around 320 ms.

    >>> checkout_latencies_ms(5, seed=1)
    array([42.4, 49.5, 33.7, 40. , 36.3])
    """
    rng = np.random.default_rng(seed)
    slow_path = rng.random(n) < 0.03  # roughly 3% of requests take the slow path
    return np.where(slow_path, rng.lognormal(np.log(320), 0.35, n), rng.lognormal(np.log(42), 0.3, n)).round(1)
