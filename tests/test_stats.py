"""Properties of course_lib.measuring.stats: percentiles agree with numpy, bootstrap intervals behave."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.measuring import stats
from course_lib.measuring.stats import (
    DEFAULT_PERCENTILES,
    bootstrap_ci,
    percentile,
    percentiles,
    ratio_bootstrap_ci,
)

# Deadlines fail on a busy shared machine; no example database written into the repo.
PROPERTY = settings(deadline=None, database=None, max_examples=150)

# Any finite float up to 1e300 in size (beyond that, differences of two samples overflow).
finite = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False, allow_infinity=False)
samples = st.lists(finite, min_size=1, max_size=60)
qs = st.floats(min_value=0, max_value=100)
# Latency-like data: positive durations from 1 ns to 10 s.
durations = st.lists(st.floats(min_value=1e-9, max_value=10.0), min_size=1, max_size=40)


def close(a: float, b: float, scale: float) -> bool:
    """Equal up to rounding: relative to the value, or to the size of the data."""
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * scale)


@PROPERTY
@given(samples, qs)
def test_percentile_agrees_with_numpy(xs: list[float], q: float) -> None:
    scale = max(abs(x) for x in xs)
    assert close(percentile(xs, q), float(np.percentile(xs, q)), scale)


@PROPERTY
@given(samples, st.lists(qs, min_size=1, max_size=6))
def test_percentiles_agree_with_numpy(xs: list[float], many_qs: list[float]) -> None:
    result = percentiles(xs, many_qs)
    expected = np.percentile(xs, many_qs)
    scale = max(abs(x) for x in xs)
    for q, value in zip(many_qs, expected):
        assert close(result[stats.percentile_label(q)], float(value), scale)


@PROPERTY
@given(samples, qs)
def test_percentile_lies_within_the_data_and_ignores_order(xs: list[float], q: float) -> None:
    value = percentile(xs, q)
    assert min(xs) <= value <= max(xs)
    assert percentile(list(reversed(xs)), q) == value


def test_percentile_end_points_and_labels() -> None:
    xs = [5.0, 1.0, 3.0]
    assert percentile(xs, 0) == 1.0
    assert percentile(xs, 100) == 5.0
    assert list(percentiles(xs)) == ["p50", "p95", "p99", "p99.9"]
    assert len(DEFAULT_PERCENTILES) == 4


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [float("inf")], np.zeros((2, 2))])
def test_bad_samples_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError):
        percentile(bad, 50)
    with pytest.raises(ValueError):
        percentiles(bad)
    with pytest.raises(ValueError):
        bootstrap_ci(bad)
    with pytest.raises(ValueError):
        ratio_bootstrap_ci([1.0, 2.0], bad)


@pytest.mark.parametrize("q", [-0.1, 100.5, float("nan"), float("inf")])
def test_bad_q_is_rejected(q: float) -> None:
    with pytest.raises(ValueError, match="q must be between 0 and 100"):
        percentile([1.0, 2.0], q)


@pytest.mark.parametrize("confidence", [0, 1, 95])
def test_bad_confidence_is_rejected(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci([1.0, 2.0], confidence=confidence)
    with pytest.raises(ValueError, match="confidence"):
        ratio_bootstrap_ci([1.0, 2.0], [1.0, 2.0], confidence=confidence)


def test_ratio_needs_positive_denominators() -> None:
    with pytest.raises(ValueError, match="positive"):
        ratio_bootstrap_ci([1.0, 2.0], [0.0, 1.0])


@PROPERTY
@given(durations)
def test_bootstrap_interval_contains_the_median_and_is_deterministic(xs: list[float]) -> None:
    median = float(np.median(xs))
    low, high = bootstrap_ci(xs, seed=7)
    assert low <= high
    assert low <= median or math.isclose(low, median)
    assert median <= high or math.isclose(high, median)
    assert bootstrap_ci(xs, seed=7) == (low, high)


@PROPERTY
@given(durations, durations)
def test_ratio_interval_contains_the_ratio_and_is_deterministic(a: list[float], b: list[float]) -> None:
    ratio = float(np.median(a) / np.median(b))
    low, high = ratio_bootstrap_ci(a, b, seed=3)
    assert low <= ratio or math.isclose(low, ratio)
    assert ratio <= high or math.isclose(high, ratio)
    assert ratio_bootstrap_ci(a, b, seed=3) == (low, high)


def test_bootstrap_fast_path_matches_the_general_one() -> None:
    xs = np.random.default_rng(1).lognormal(size=31)
    fast = bootstrap_ci(xs, np.median)
    general = bootstrap_ci(xs, lambda row: float(np.median(row)))
    assert fast == general


def test_bootstrap_narrows_with_more_data() -> None:
    rng = np.random.default_rng(0)
    few, many = rng.normal(10, 1, 20), rng.normal(10, 1, 500)
    width = lambda xs: np.subtract(*reversed(bootstrap_ci(xs)))  # noqa: E731
    assert width(many) < width(few) / 2


def test_docstring_examples() -> None:
    assert doctest.testmod(stats).failed == 0
