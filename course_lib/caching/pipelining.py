"""Time the same writes at several batch sizes, interleaved, so that noise lands on every size.

:func:`time_batch_sizes` writes the same items again and again, once per batch size in each
round, and keeps one sample per size per round: seconds per item. Interleaving matters on a
busy machine: a burst of background load then slows samples of several sizes, not every
sample of one size, and each size's fastest sample (``Measurement.min``) comes from a quiet
moment. Noise only ever adds time, so the ratio of the fastest samples is the statistic
that background load cannot flip.

>>> written = []
>>> timings = time_batch_sizes(written.append, list(range(10)), [1, 5], rounds=3, warmup=0)
>>> sorted(timings), timings[5].repeats, len(written)       # 3 rounds x (10 + 2 batches)
([1, 5], 3, 36)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from course_lib.measuring.harness import Measurement

__all__ = ["time_batch_sizes"]


def time_batch_sizes(
    write_batch: Callable[[Sequence[Any]], Any],
    items: Sequence[Any],
    sizes: Sequence[int],
    *,
    rounds: int = 10,
    warmup: int = 1,
    timer: Callable[[], float] = time.perf_counter,
) -> dict[int, Measurement]:
    """Seconds per item for writing all ``items`` in batches of each size, one sample per size per round.

    ``write_batch`` receives one batch (a slice of ``items``) per call, e.g. a store's
    ``set_many`` (one pipeline, one round trip). Each round times every size once, in an
    order rotated from round to round; ``warmup`` untimed rounds come first. Returns a
    :class:`~course_lib.measuring.harness.Measurement` per size, named ``"batch <size>"``.
    """
    if not items:
        raise ValueError("give at least one item to write")
    if not sizes or any(not isinstance(n, int) or n < 1 for n in sizes):
        raise ValueError(f"sizes must be positive whole numbers of items per batch, got {sizes!r}")
    if rounds < 1 or warmup < 0:
        raise ValueError(f"need rounds >= 1 and warmup >= 0, got rounds={rounds!r}, warmup={warmup!r}")
    sizes = list(dict.fromkeys(sizes))
    samples: dict[int, list[float]] = {n: [] for n in sizes}
    for number in range(warmup + rounds):
        shift = number % len(sizes)
        for n in sizes[shift:] + sizes[:shift]:
            started = timer()
            for start in range(0, len(items), n):
                write_batch(items[start : start + n])
            if number >= warmup:
                samples[n].append((timer() - started) / len(items))
    return {n: Measurement(f"batch {n}", samples[n], number=len(items)) for n in sizes}
