"""A saturation curve: throughput and latency percentiles against offered load, with M/M/1 beside.

:func:`mm1_curves` gives the M/M/1 model's p50 and p99 of the time in system (lesson 01,
:func:`course_lib.fundamentals.queueing.mm1_sojourn_percentile`) for offered loads below
capacity: the *steady state*, what a long run converges to. A short run that starts with an
empty queue sees less queueing than that near the knee; :func:`mm1_short_runs` simulates many
runs of the same length (lesson 01's FIFO recursion) to show the spread a run of that length
has. :func:`plot_saturation` draws a measured table (one row per offered load, as
:meth:`LoadResult.summary <course_lib.loadtest.results.LoadResult.summary>` gives) next to both.

>>> curves = mm1_curves(service_time=0.01, rates=[50.0, 90.0])
>>> curves["p50_s"].round(4).tolist(), curves["p99_s"].round(3).tolist()
([0.0139, 0.0693], [0.092, 0.461])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from course_lib.fundamentals.queueing import fifo_departures, mm1_sojourn_percentile

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["mm1_curves", "mm1_short_runs", "plot_saturation"]


def mm1_curves(service_time: float, rates: Sequence[float]) -> pd.DataFrame:
    """M/M/1 p50 and p99 (seconds) at each arrival rate below ``1 / service_time``."""
    mu = 1.0 / service_time
    rates = [float(r) for r in rates if r < mu]
    return pd.DataFrame(
        {
            "rate": rates,
            "p50_s": [mm1_sojourn_percentile(r, mu, 50) for r in rates],
            "p99_s": [mm1_sojourn_percentile(r, mu, 99) for r in rates],
        }
    )


def mm1_short_runs(
    rates: Sequence[float], service_time: float, seconds: float, *, q: float = 99, runs: int = 200, seed: int = 0
) -> pd.DataFrame:
    """The q-th percentile of the time in system in ``runs`` simulated M/M/1 runs of ``seconds``
    each, starting empty, at each arrival rate (any rate: overload included). Columns ``rate``,
    ``low``, ``median``, ``high``: the 10th, 50th and 90th percentile over the runs.

    >>> band = mm1_short_runs([100.0], service_time=0.005, seconds=1.0, runs=50)
    >>> bool(band["low"][0] <= band["median"][0] <= band["high"][0])
    True
    """
    rng = np.random.default_rng(seed)
    rows = []
    for rate in rates:
        values = []
        for _ in range(runs):
            gaps = rng.exponential(1.0 / rate, size=int(rate * seconds * 1.5) + 20)
            arrivals = np.cumsum(gaps) - gaps[0]
            arrivals = arrivals[arrivals < seconds]
            services = rng.exponential(service_time, size=arrivals.size)
            values.append(np.percentile(fifo_departures(arrivals, services) - arrivals, q))
        low, median, high = np.percentile(values, [10, 50, 90])
        rows.append({"rate": float(rate), "low": low, "median": median, "high": high})
    return pd.DataFrame(rows)


def plot_saturation(
    table: pd.DataFrame, service_time: float, axes: Sequence[Axes], *, short_runs: pd.DataFrame | None = None
) -> None:
    """Two panels: throughput vs offered load, and p50/p99 (log scale) vs offered load.

    ``table`` needs the columns ``offered_per_s``, ``throughput_per_s``, ``p50_s`` and ``p99_s``.
    The M/M/1 curves for one worker with mean ``service_time`` are dashed; the dotted
    vertical line is its capacity ``1 / service_time``, where the model's latency has no limit.
    ``short_runs`` (from :func:`mm1_short_runs`, for p99) adds the range of simulated runs as
    long as the measured ones, shaded.
    """
    mu = 1.0 / service_time
    top = float(table["offered_per_s"].max()) * 1.05
    left, right = axes
    left.plot([0, top], [0, top], ":", color="0.6", label="throughput = offered load")
    left.axhline(mu, color="C3", linestyle="--", label=f"capacity 1 / service time = {mu:.0f}/s")
    left.plot(table["offered_per_s"], table["throughput_per_s"], "o-", color="C0", label="measured")
    left.set(xlabel="offered load (requests/s)", ylabel="throughput (answers/s)", xlim=(0, top), ylim=(0, top))
    left.set_title("Throughput stops at the capacity")
    left.legend(fontsize="small")
    curves = mm1_curves(service_time, np.linspace(0.02 * mu, 0.985 * mu, 200))
    for column, colour in (("p50_s", "C0"), ("p99_s", "C1")):
        name = column[:-2]
        right.plot(table["offered_per_s"], table[column] * 1e3, "o-", color=colour, label=f"{name} measured")
        right.plot(curves["rate"], curves[column] * 1e3, "--", color=colour, alpha=0.7, label=f"{name} M/M/1")
    if short_runs is not None:
        right.fill_between(
            short_runs["rate"],
            short_runs["low"] * 1e3,
            short_runs["high"] * 1e3,
            color="C1",
            alpha=0.15,
            label="p99 of simulated M/M/1 runs as long (10-90%)",
        )
    right.axvline(mu, color="C3", linestyle=":", label="capacity")
    right.set_yscale("log")
    right.set(xlabel="offered load (requests/s)", ylabel="latency from intended start (ms, log scale)", xlim=(0, top))
    right.set_title("Latency turns up at the knee, as M/M/1 predicts")
    right.legend(fontsize="small")
