"""Tests for course_lib.fundamentals.queueing: closed forms, simulations against them, validation."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib.fundamentals import queueing as q

# --------------------------------------------------------------------------- closed forms


def test_mm1_closed_forms_known_values():
    assert q.utilisation(80, 100) == pytest.approx(0.8)
    assert q.mm1_mean_sojourn(0.5, 1.0) == pytest.approx(2.0)
    assert q.mm1_mean_sojourn(80, 100) == pytest.approx(0.05)
    assert q.mm1_mean_number(0.5, 1.0) == pytest.approx(1.0)
    assert q.mm1_mean_number(0.9, 1.0) == pytest.approx(9.0)
    assert q.mm1_sojourn_percentile(0.5, 1.0, 50) == pytest.approx(2 * math.log(2))
    assert q.mm1_sojourn_percentile(0.5, 1.0, 99) == pytest.approx(2 * math.log(100))
    assert q.mm1_sojourn_percentile(0.5, 1.0, 0) == 0.0


@given(
    lam=st.floats(min_value=0.01, max_value=1000),
    rho=st.floats(min_value=0.01, max_value=0.99),
)
def test_mm1_closed_forms_obey_littles_law(lam, rho):
    mu = lam / rho
    assert q.mm1_mean_number(lam, mu) == pytest.approx(lam * q.mm1_mean_sojourn(lam, mu), rel=1e-9)


@given(rho=st.floats(min_value=0.01, max_value=0.99), p=st.floats(min_value=0.0, max_value=99.99))
def test_mm1_percentile_is_exponential_quantile(rho, p):
    w = q.mm1_sojourn_percentile(rho, 1.0, p)
    # the exponential CDF at its own quantile gives back the probability
    assert 1 - math.exp(-(1.0 - rho) * w) == pytest.approx(p / 100, abs=1e-9)


@pytest.mark.parametrize("lam, mu", [(1.0, 1.0), (2.0, 1.0)])
def test_unstable_queue_is_rejected_with_a_clear_message(lam, mu):
    for fn in (q.mm1_mean_sojourn, q.mm1_mean_number):
        with pytest.raises(ValueError, match="utilisation"):
            fn(lam, mu)
    with pytest.raises(ValueError, match="utilisation"):
        q.simulate_mm1(lam, mu, 10, seed=0)


@pytest.mark.parametrize("lam, mu", [(0.0, 1.0), (-1.0, 1.0), (1.0, 0.0), (float("nan"), 1.0), (0.5, math.inf)])
def test_rates_must_be_positive_and_finite(lam, mu):
    with pytest.raises(ValueError, match="positive"):
        q.mm1_mean_sojourn(lam, mu)


@pytest.mark.parametrize("pct", [-1, 100, 150])
def test_percentile_out_of_range(pct):
    with pytest.raises(ValueError, match=r"\[0, 100\)"):
        q.mm1_sojourn_percentile(0.5, 1.0, pct)


# --------------------------------------------------------------------------- FIFO recursion


def lindley_loop(arrivals, services):
    departures, last = [], 0.0
    for a, s in zip(arrivals, services):
        last = max(a, last) + s
        departures.append(last)
    return np.array(departures)


@given(
    gaps=st.lists(st.floats(min_value=0, max_value=10), min_size=1, max_size=50),
    data=st.data(),
)
def test_vectorised_fifo_matches_the_plain_recursion(gaps, data):
    services = data.draw(st.lists(st.floats(min_value=0, max_value=10), min_size=len(gaps), max_size=len(gaps)))
    arrivals = np.cumsum(gaps)
    got = q.fifo_departures(arrivals, services)
    np.testing.assert_allclose(got, lindley_loop(arrivals, services), rtol=1e-9, atol=1e-9)
    assert np.all(got >= arrivals + np.array(services) - 1e-9)  # nobody leaves before being served


def test_fifo_small_example_and_validation():
    assert q.fifo_departures([0.0, 1.0, 1.5], [2.0, 1.0, 1.0]).tolist() == [2.0, 3.0, 4.0]
    assert q.fifo_departures([], []).size == 0
    with pytest.raises(ValueError, match="equally long"):
        q.fifo_departures([0.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="sorted"):
        q.fifo_departures([1.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="non-negative"):
        q.fifo_departures([0.0, 1.0], [1.0, -1.0])


# --------------------------------------------------------------------------- simulation vs closed form


def test_simulation_is_deterministic_per_seed():
    a = q.simulate_mm1(8, 10, 1000, seed=3)
    np.testing.assert_array_equal(a, q.simulate_mm1(8, 10, 1000, seed=3))
    assert not np.array_equal(a, q.simulate_mm1(8, 10, 1000, seed=4))
    assert a.shape == (1000,) and np.all(a > 0)


@pytest.mark.parametrize("rho", [0.3, 0.5, 0.8])
def test_simulated_mean_and_percentiles_match_closed_form(rho):
    mu = 100.0
    lam = rho * mu
    w = q.simulate_mm1(lam, mu, 200_000, seed=11)
    assert w.mean() == pytest.approx(q.mm1_mean_sojourn(lam, mu), rel=0.05)
    for pct in (50, 90, 99):
        assert np.percentile(w, pct) == pytest.approx(q.mm1_sojourn_percentile(lam, mu, pct), rel=0.10)


def test_simulation_input_validation():
    with pytest.raises(ValueError, match="n_customers"):
        q.simulate_mm1(1, 2, 0, seed=0)
    with pytest.raises(ValueError, match="n_customers"):
        q.simulate_mm1(1, 2, 2.5, seed=0)


# --------------------------------------------------------------------------- Little's law


def test_count_in_system_counts_arrived_minus_departed():
    assert q.count_in_system([0, 1, 2], [3, 4, 5], [0.5, 2.5, 3.5, 9]).tolist() == [1, 3, 2, 0]
    assert q.count_in_system([0, 1], [1, 2], [1.0]).tolist() == [1]  # departure exclusive, arrival inclusive


def test_littles_law_holds_on_a_simulation():
    lam, mu = 80.0, 100.0
    run = q.simulate_mm1_run(lam, mu, 100_000, seed=5)
    horizon = run.arrivals[-1]
    gauge = q.count_in_system(run.arrivals, run.departures, np.arange(0.25, horizon, 0.5))
    measured_lambda = run.arrivals.size / horizon
    assert gauge.mean() == pytest.approx(measured_lambda * run.sojourn.mean(), rel=0.03)
    assert gauge.mean() == pytest.approx(q.mm1_mean_number(lam, mu), rel=0.05)


def test_littles_law_is_exact_over_a_window_that_starts_and_ends_empty():
    run = q.simulate_mm1_run(5.0, 10.0, 5_000, seed=2)
    # the area under N(t) from 0 to the last departure is the sum of the sojourn times
    edges = np.sort(np.concatenate([run.arrivals, run.departures]))
    mids = (edges[:-1] + edges[1:]) / 2
    area = np.sum(q.count_in_system(run.arrivals, run.departures, mids) * np.diff(edges))
    assert area == pytest.approx(run.sojourn.sum(), rel=1e-9)


def test_littles_law_solves_for_the_missing_quantity():
    assert q.littles_law(arrival_rate=200, time_in_system=0.05) == pytest.approx(10)
    assert q.littles_law(number_in_system=10, time_in_system=0.05) == pytest.approx(200)
    assert q.littles_law(number_in_system=10, arrival_rate=200) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="exactly two"):
        q.littles_law(arrival_rate=1.0)
    with pytest.raises(ValueError, match="exactly two"):
        q.littles_law(arrival_rate=1.0, time_in_system=1.0, number_in_system=1.0)
    with pytest.raises(ValueError, match="positive"):
        q.littles_law(arrival_rate=-1.0, time_in_system=1.0)


# --------------------------------------------------------------------------- fan-out


def test_fanout_probability_known_values():
    assert q.fanout_slow_probability(0.01, 1) == pytest.approx(0.01)
    assert q.fanout_slow_probability(0.01, 100) == pytest.approx(1 - 0.99**100)
    assert q.fanout_slow_probability(0.0, 50) == 0.0
    assert q.fanout_slow_probability(1.0, 3) == 1.0
    out = q.fanout_slow_probability(0.1, np.array([1, 2, 3]))
    np.testing.assert_allclose(out, [0.1, 0.19, 0.271])


@pytest.mark.parametrize("p, n", [(-0.1, 1), (1.5, 1), (0.1, 0), (0.1, 2.5)])
def test_fanout_probability_validation(p, n):
    with pytest.raises(ValueError):
        q.fanout_slow_probability(p, n)


@pytest.mark.parametrize("n_backends", [1, 10, 100])
def test_simulated_fanout_matches_formula(n_backends):
    median, sigma, p = 10.0, 0.5, 0.01
    threshold = median * math.exp(sigma * NormalDist().inv_cdf(1 - p))  # the back end's p99
    lat = q.simulate_fanout(n_backends, 20_000, seed=7, sampler=q.lognormal_sampler(median, sigma))
    assert lat.shape == (20_000,)
    assert np.mean(lat > threshold) == pytest.approx(q.fanout_slow_probability(p, n_backends), abs=0.015)


def test_fanout_uses_the_slowest_backend_and_is_deterministic():
    calls = []

    def sampler(rng, size):
        calls.append(size)
        return np.tile(np.arange(size[1], dtype=float), (size[0], 1))

    assert q.simulate_fanout(4, 3, seed=0, sampler=sampler).tolist() == [3.0, 3.0, 3.0]
    np.testing.assert_array_equal(q.simulate_fanout(5, 100, seed=1), q.simulate_fanout(5, 100, seed=1))
    with pytest.raises(ValueError, match="n_backends"):
        q.simulate_fanout(0, 10, seed=0)


# --------------------------------------------------------------------------- scalability


def test_amdahl_known_values_and_bound():
    assert q.amdahl_speedup(0.0, 8) == pytest.approx(8)
    assert q.amdahl_speedup(1.0, 8) == pytest.approx(1)
    assert q.amdahl_speedup(0.5, 2) == pytest.approx(4 / 3)
    n = np.arange(1, 1025)
    s = q.amdahl_speedup(0.05, n)
    assert np.all(np.diff(s) > 0) and np.all(s < 1 / 0.05)
    with pytest.raises(ValueError, match="serial_fraction"):
        q.amdahl_speedup(1.5, 2)
    with pytest.raises(ValueError, match="n"):
        q.amdahl_speedup(0.1, 0)


def test_usl_reduces_to_amdahl_and_peaks_where_predicted():
    n = np.arange(1, 201)
    assert q.usl_speedup(4, 0.0, 0.0) == pytest.approx(4)
    np.testing.assert_allclose(q.usl_speedup(n, 0.1, 0.0), q.amdahl_speedup(0.1, n))
    curve = q.usl_speedup(n, 0.03, 0.0005)
    assert abs(n[np.argmax(curve)] - q.usl_peak(0.03, 0.0005)) <= 1
    with pytest.raises(ValueError, match="alpha"):
        q.usl_speedup(4, -0.1, 0.0)
    with pytest.raises(ValueError, match="beta"):
        q.usl_peak(0.1, 0.0)
