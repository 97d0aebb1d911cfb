"""What a load run gives back: :class:`LoadResult`, every request's clocks, printed and plotted.

Times are seconds from the start of the run. From the three clocks of each request follow
three durations: ``latency = done - intended`` (what a user who arrived at the intended time
waits), ``response_time = done - sent`` (what a tool that starts its clock when it sends
measures), and ``lag = sent - intended`` (how late the generator sent it). Latencies are kept
as raw samples and in an HdrHistogram (microseconds, three significant digits), the structure
load tools use to keep millions of latencies in a few kilobytes.

>>> r = LoadResult("demo", intended=[0.0, 0.1, 0.2], sent=[0.0, 0.1, 0.5], done=[0.01, 0.6, 0.51],
...                status=[200, 200, 200], t0=0.0, seconds=0.3)
>>> r.latency.round(2).tolist(), r.response_time.round(2).tolist()
([0.01, 0.5, 0.31], [0.01, 0.5, 0.01])
>>> r.histogram.get_total_count(), r.histogram.get_max_value()
(3, 500223)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from hdrh.histogram import HdrHistogram

from course_lib.measuring.results import format_duration
from course_lib.measuring.stats import percentiles

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["LoadResult", "new_histogram"]

#: Microseconds: an HdrHistogram stores integers, so latencies are recorded in µs.
US = 1e6


def new_histogram() -> HdrHistogram:
    """An empty HdrHistogram for latencies from 1 µs to 10 minutes, three significant digits."""
    return HdrHistogram(1, int(600 * US), 3)


def _record(values: np.ndarray, expected_interval: float | None = None) -> HdrHistogram:
    histogram = new_histogram()
    for value in values[np.isfinite(values)]:
        micros = max(1, int(round(value * US)))
        if expected_interval is None:
            histogram.record_value(micros)
        else:  # HdrHistogram's own correction: add the samples a stalled sender did not send
            histogram.record_corrected_value(micros, max(1, int(round(expected_interval * US))))
    return histogram


@dataclass(frozen=True, eq=False)
class LoadResult:
    """One run of :func:`~course_lib.loadtest.run_open` or :func:`~course_lib.loadtest.run_closed`.

    ``status`` is the HTTP status, 0 for a transport error (refused, timed out), -1 for a request
    not finished when the run's bounds were reached. ``t0`` is ``time.perf_counter()`` at time 0,
    to place other events of this process (a server stall) on the run's time axis.
    """

    name: str
    intended: np.ndarray
    sent: np.ndarray
    done: np.ndarray
    status: np.ndarray
    t0: float
    seconds: float
    kind: str = "closed"

    def __post_init__(self) -> None:
        for field in ("intended", "sent", "done"):
            array = np.array(getattr(self, field), dtype=float)
            array.flags.writeable = False
            object.__setattr__(self, field, array)
        object.__setattr__(self, "status", np.array(self.status, dtype=int))
        if not (self.intended.shape == self.sent.shape == self.done.shape == self.status.shape):
            raise ValueError("intended, sent, done and status must have one value per request")

    # ------------------------------------------------------------------ the three durations
    @property
    def latency(self) -> np.ndarray:
        """Seconds from the intended start to the answer (NaN if unanswered): the user's view."""
        return self.done - self.intended

    @property
    def response_time(self) -> np.ndarray:
        """Seconds from sending to the answer: what a tool that ignores the schedule reports."""
        return self.done - self.sent

    @property
    def lag(self) -> np.ndarray:
        """Seconds the request was sent after its intended start (the generator's delay)."""
        return self.sent - self.intended

    # ------------------------------------------------------------------ counts and rates
    @property
    def requests(self) -> int:
        return int(self.status.size)

    @property
    def answered(self) -> int:
        """Requests with an HTTP answer (any status)."""
        return int(np.sum(self.status > 0))

    @property
    def unfinished(self) -> int:
        return int(np.sum(self.status == -1))

    @property
    def throughput(self) -> float:
        """Answers per second, from the first intended start to the last answer."""
        span = np.nanmax(self.done) - self.intended.min() if self.answered else np.nan
        return self.answered / span if span > 0 else float("nan")

    # ------------------------------------------------------------------ summaries
    def percentiles(self, of: str = "latency", qs: tuple[float, ...] = (50, 99)) -> dict[str, float]:
        """Exact percentiles (seconds) of the answered requests' ``latency`` (or ``response_time``, ``lag``)."""
        values = getattr(self, of)
        return percentiles(values[np.isfinite(values)], qs)

    @functools.cached_property
    def histogram(self) -> HdrHistogram:
        """An HdrHistogram (µs) of :attr:`latency`; ``histogram.get_value_at_percentile(99)``."""
        return _record(self.latency)

    def corrected_histogram(self, expected_interval: float) -> HdrHistogram:
        """HdrHistogram's correction of :attr:`response_time`: for a sample longer than the
        ``expected_interval`` between one sender's requests, it also records the samples that
        sender would have sent meanwhile (``record_corrected_value``)."""
        return _record(self.response_time, expected_interval)

    def summary(self) -> dict[str, Any]:
        """One row for a table: counts, rates, and p50/p99 in seconds."""
        latency, response = self.percentiles(), self.percentiles("response_time")
        return {
            "name": self.name,
            "requests": self.requests,
            "answered": self.answered,
            "unfinished": self.unfinished,
            "sent_per_s": self.requests / self.seconds if self.seconds else np.nan,
            "throughput_per_s": self.throughput,
            "p50_s": latency["p50"],
            "p99_s": latency["p99"],
            "response_p99_s": response["p99"],
            "lag_p99_s": self.percentiles("lag")["p99"],
        }

    def __str__(self) -> str:
        s = self.summary()
        return (
            f"{self.name}: {s['requests']} requests in {self.seconds:.1f} s, {s['answered']} answered "
            f"({s['unfinished']} unfinished), throughput {s['throughput_per_s']:.0f}/s; latency from the "
            f"intended start p50 {format_duration(s['p50_s'])}, p99 {format_duration(s['p99_s'])}; "
            f"p99 from the send {format_duration(s['response_p99_s'])}; "
            f"generator lag p99 {format_duration(s['lag_p99_s'])}"
        )

    __repr__ = __str__

    def plot(
        self, ax: Axes | None = None, *, stalls: list[tuple[float, float]] = (), response_time: bool = True
    ) -> Axes:
        """Latency of each request against its intended start (log scale), stalls shaded.

        ``stalls`` are ``(start, end)`` in ``time.perf_counter()`` seconds, as
        :attr:`QueueService.stalls <course_lib.loadtest.server.QueueService.stalls>` keeps them.
        """
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(7, 3.6))
        for k, (start, end) in enumerate(stalls):
            label = "server stalled" if k == 0 else None
            ax.axvspan(start - self.t0, end - self.t0, color="C3", alpha=0.12, label=label)
        ax.plot(self.intended, self.latency * 1e3, ".", markersize=4, label="from the intended start")
        if response_time:
            ax.plot(self.intended, self.response_time * 1e3, "x", markersize=3, color="0.3", label="from the send")
        ax.set_yscale("log")
        ax.set(xlabel="intended start (s since the run began)", ylabel="latency (ms, log scale)", title=self.name)
        ax.legend(fontsize="small")
        return ax
