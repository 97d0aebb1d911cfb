"""Quantiles from histogram buckets, computed the way Prometheus' ``histogram_quantile`` does.

A Prometheus histogram keeps no samples. It keeps, for each bucket upper bound ``le``, the
*cumulative* number of observations ``<= le``, always with a last bucket ``le="+Inf"``
that counts everything. :func:`histogram_quantile` estimates a quantile from those counts
with the algorithm of Prometheus' ``promql/quantile.go`` (``bucketQuantile``, classic
histograms), rule for rule:

1. ``q`` is NaN: NaN. ``q < 0``: ``-Inf``. ``q > 1``: ``+Inf``.
2. The buckets are sorted by upper bound. If the highest is not ``+Inf``: NaN.
3. Buckets with the same upper bound are merged (their counts added).
4. Counts are made monotonic: a count lower than one before it is raised to that count
   (the "envelope"; Prometheus does this because buckets scraped or ``rate()``-d at
   slightly different moments can be inconsistent).
5. Fewer than two buckets, or zero observations in the ``+Inf`` bucket: NaN.
6. ``rank = q * total``. The quantile lies in the first bucket (``+Inf`` excluded) whose
   cumulative count is ``>= rank``.
7. If no finite bucket reaches the rank, the quantile is in the ``+Inf`` bucket, and the
   answer is the upper bound of the *second highest* bucket (the largest finite bound):
   Prometheus cannot know how far the tail goes, so it never answers more than that.
8. If it is the lowest bucket and that bucket's upper bound is ``<= 0``, the answer is
   that upper bound.
9. Otherwise the answer is interpolated linearly inside the bucket, between its lower
   bound (the previous bucket's upper bound, or 0 for the lowest bucket) and its upper
   bound: ``start + (end - start) * (rank - count_below) / count_in_bucket``.

Two consequences worth knowing. ``q = 0`` has rank 0, which the lowest bucket always
reaches: the answer is 0 (the assumed lower bound) when that bucket has observations, and
NaN when it is empty (0/0 in floating point, which Go evaluates to NaN rather than raising).
And every estimate lies between two bucket bounds: the bounds you choose decide the error.
Newer Prometheus versions than Debian 12's 2.42 also, before step 4, treat differences
between neighbouring counts smaller than a relative 1e-12 as floating-point noise; that can
change a result only by about that much, so it is left out here.

>>> histogram_quantile(0.5, {"0.25": 10, "0.5": 30, "1": 40, "+Inf": 40})  # rank 20: half-way into (0.25, 0.5]
0.375
>>> histogram_quantile(0.99, [(0.1, 10), (float("inf"), 100)])  # in the +Inf bucket
0.1

Sources: Prometheus documentation, "Query functions: histogram_quantile()" and
"Histograms and summaries" (prometheus.io/docs); the function ``bucketQuantile`` in
``promql/quantile.go`` of the Prometheus source.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "Buckets",
    "parse_le",
    "histogram_quantile",
    "cumulative_buckets",
    "histogram_buckets",
    "fraction_at_most",
]

INF = float("inf")

#: Buckets as ``{le: cumulative count}`` (``le`` a number or a string such as ``"+Inf"``)
#: or as a sequence of ``(le, cumulative count)`` pairs, in any order.
Buckets = Mapping[str | float, float] | Sequence[tuple[str | float, float]]


def parse_le(le: str | float) -> float:
    """A bucket's upper bound as a float: ``"+Inf"``, ``"0.25"``, ``"1e-3"`` or a number.

    >>> parse_le("+Inf"), parse_le("0.25"), parse_le(1)
    (inf, 0.25, 1.0)
    """
    if isinstance(le, str):
        text = le.strip()
        if text.lower() in ("+inf", "inf"):
            return INF
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"bucket bound {le!r} is not a number; use a number or '+Inf'") from None
    return float(le)


def _pairs(buckets: Buckets) -> list[tuple[float, float]]:
    items = buckets.items() if isinstance(buckets, Mapping) else buckets
    return [(parse_le(le), float(count)) for le, count in items]


def histogram_quantile(q: float, buckets: Buckets) -> float:
    """The ``q``-quantile (``0 <= q <= 1``) that Prometheus' ``histogram_quantile`` returns.

    ``buckets`` holds cumulative counts: ``{le: count}`` or ``[(le, count), ...]``, in any
    order, including a ``+Inf`` bucket. The rules, edge cases included, are those listed in
    this module's docstring; the result is a float, possibly NaN or infinite, never an
    exception for odd data (as in PromQL). An empty ``buckets`` gives NaN.
    """
    q = float(q)
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -INF
    if q > 1:
        return INF
    pairs = sorted(_pairs(buckets), key=lambda pair: pair[0])
    if not pairs or pairs[-1][0] != INF:
        return math.nan
    bounds: list[float] = []
    counts: list[float] = []
    for bound, count in pairs:  # merge buckets with the same upper bound
        if bounds and bound == bounds[-1]:
            counts[-1] += count
        else:
            bounds.append(bound)
            counts.append(count)
    for i in range(1, len(counts)):  # the monotonic envelope
        counts[i] = max(counts[i], counts[i - 1])
    if len(bounds) < 2:
        return math.nan
    observations = counts[-1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = bisect.bisect_left(counts, rank, hi=len(counts) - 1)  # first finite bucket with count >= rank
    if b == len(bounds) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, count = 0.0, bounds[b], counts[b]
    if b > 0:
        start = bounds[b - 1]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    if count == 0:  # only rank 0 in an empty lowest bucket: Go's 0/0 is NaN
        return math.nan
    return start + (end - start) * (rank / count)


def cumulative_buckets(samples: Iterable[float], bounds: Sequence[float]) -> dict[float, int]:
    """Bucket ``samples`` as a Prometheus histogram does: ``{le: number of samples <= le}``.

    ``bounds`` are the finite upper bounds (increasing); the ``+Inf`` bucket is added.

    >>> cumulative_buckets([0.05, 0.1, 0.2, 3.0], [0.1, 0.5])
    {0.1: 2, 0.5: 3, inf: 4}
    """
    values = np.sort(np.asarray(list(samples) if not isinstance(samples, np.ndarray) else samples, dtype=float))
    finite = [float(b) for b in bounds if float(b) != INF]
    if any(b2 <= b1 for b1, b2 in zip(finite, finite[1:])):
        raise ValueError(f"bucket bounds must increase strictly, got {list(bounds)}")
    counts = np.searchsorted(values, finite, side="right")  # number of samples <= each bound
    out = {bound: int(count) for bound, count in zip(finite, counts)}
    out[INF] = int(values.size)
    return out


def histogram_buckets(families: Iterable, name: str, labels: Mapping[str, str] | None = None) -> dict[float, float]:
    """Cumulative buckets of histogram ``name`` from parsed exposition text, summed over series.

    ``families`` comes from ``prometheus_client.parser.text_string_to_metric_families``
    (see :func:`course_lib.monitoring.metrics.parse_metrics`). Only series whose labels
    include all of ``labels`` count; their buckets are added per ``le``, which is what
    ``sum by (le) (name_bucket{labels})`` does in PromQL.
    """
    wanted = dict(labels or {})
    out: dict[float, float] = {}
    for family in families:
        for sample in family.samples:
            if sample.name != f"{name}_bucket":
                continue
            if any(sample.labels.get(k) != v for k, v in wanted.items()):
                continue
            le = parse_le(sample.labels["le"])
            out[le] = out.get(le, 0.0) + sample.value
    return dict(sorted(out.items()))


def fraction_at_most(buckets: Buckets, threshold: float) -> float:
    """The share of observations ``<= threshold``, exact when ``threshold`` is a bucket bound.

    Between bounds it is interpolated linearly, as ``histogram_quantile`` interpolates.
    This is the "good events / all events" ratio of a latency SLI, and the reason to put a
    bucket bound exactly on the SLO threshold.
    """
    pairs = sorted(_pairs(buckets), key=lambda pair: pair[0])
    total = pairs[-1][1] if pairs and pairs[-1][0] == INF else math.nan
    if not total or math.isnan(total):
        return math.nan
    below_bound, below_count = 0.0, 0.0
    for bound, count in pairs:
        if threshold == bound:
            return count / total
        if threshold < bound:
            if bound == INF:
                return below_count / total
            share = (threshold - below_bound) / (bound - below_bound)
            return (below_count + share * (count - below_count)) / total
        below_bound, below_count = bound, count
    return 1.0
