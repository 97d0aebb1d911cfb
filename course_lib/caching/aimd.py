"""An adaptive batch size: additive increase, multiplicative decrease (AIMD), and a way to test it.

Batching (one Redis pipeline per batch instead of one round trip per command) raises
throughput, but a big batch holds the connection, and the server, for longer, and
everything behind it waits. An :class:`AIMDController` picks the next batch size from
how long the last batch took: while batches finish within ``target`` seconds it grows
the size (doubling at first, "slow start", then by ``increase``); when one takes longer
it multiplies the size by ``decrease``. This is the rule TCP congestion control uses for
its window (RFC 5681), applied to a batch.

>>> controller = AIMDController(target=0.010, initial=1, increase=4)
>>> [controller.update(0.001) for _ in range(3)]       # fast batches: slow start doubles
[2, 4, 8]
>>> controller.update(0.050)                            # too slow: halve, slow start ends
4
>>> controller.update(0.001)                            # then grow by 4 per batch
8

:func:`run_batches` sends a list of items through any ``write_batch`` function with a
fixed or an adaptive size and times every batch, so the controller can be judged by what
it actually gains.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["AIMDController", "BatchRun", "run_batches"]


class AIMDController:
    """Next batch size from the last batch's duration (seconds); sizes stay in [minimum, maximum]."""

    def __init__(
        self,
        *,
        target: float,
        initial: int = 1,
        minimum: int = 1,
        maximum: int = 10_000,
        increase: int = 1,
        decrease: float = 0.5,
        slow_start: bool = True,
    ) -> None:
        if not target > 0:
            raise ValueError(f"target must be a positive number of seconds per batch, got {target!r}")
        if not 1 <= minimum <= initial <= maximum:
            raise ValueError(f"need 1 <= minimum <= initial <= maximum, got {minimum}, {initial}, {maximum}")
        if not 0 < decrease < 1:
            raise ValueError(f"decrease must be between 0 and 1 (0.5 halves the size), got {decrease!r}")
        if increase < 1:
            raise ValueError(f"increase must be >= 1 item per batch, got {increase!r}")
        self.target, self.minimum, self.maximum = target, minimum, maximum
        self.increase, self.decrease, self.slow_start = increase, decrease, slow_start
        self.size = initial
        self.cuts = 0  #: how often a slow batch made the size shrink

    def update(self, seconds: float) -> int:
        """Record the last batch's duration; return the size of the next batch."""
        if seconds > self.target:
            self.size = max(self.minimum, math.floor(self.size * self.decrease))
            self.slow_start = False
            self.cuts += 1
        elif self.slow_start:
            self.size = min(self.maximum, self.size * 2)
        else:
            self.size = min(self.maximum, self.size + self.increase)
        return self.size

    def __repr__(self) -> str:
        return f"AIMDController(size={self.size}, target={self.target:g} s, cuts={self.cuts})"


@dataclass
class BatchRun:
    """Every batch of one run: its size and how long it took (seconds)."""

    label: str
    sizes: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def items(self) -> int:
        return sum(self.sizes)

    @property
    def round_trips(self) -> int:
        """One per batch."""
        return len(self.sizes)

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds))

    @property
    def throughput(self) -> float:
        """Items per second over the whole run."""
        return self.items / self.total_seconds

    def over(self, target: float) -> float:
        """Fraction of batches that took longer than ``target`` seconds."""
        return float(np.mean(np.asarray(self.seconds) > target))

    def percentile(self, q: float) -> float:
        """The q-th percentile of the batch durations (seconds)."""
        return float(np.percentile(self.seconds, q))

    def summary(self, target: float) -> dict[str, Any]:
        return {
            "run": self.label,
            "items": self.items,
            "round trips": self.round_trips,
            "items/s": round(self.throughput),
            "p95 batch (ms)": round(self.percentile(95) * 1e3, 3),
            f"batches over {target * 1e3:.3g} ms": f"{self.over(target):.1%}",
        }


def run_batches(
    write_batch: Callable[[Sequence[Any]], Any],
    items: Sequence[Any],
    size: int | AIMDController,
    *,
    label: str = "",
    timer: Callable[[], float] = time.perf_counter,
) -> BatchRun:
    """Send ``items`` through ``write_batch`` in batches of a fixed ``size`` or sizes chosen by a controller."""
    run = BatchRun(label or (f"fixed {size}" if isinstance(size, int) else "AIMD"))
    position = 0
    while position < len(items):
        n = size if isinstance(size, int) else size.size
        batch = items[position : position + n]
        started = timer()
        write_batch(batch)
        elapsed = timer() - started
        run.sizes.append(len(batch))
        run.seconds.append(elapsed)
        if isinstance(size, AIMDController):
            size.update(elapsed)
        position += len(batch)
    return run
