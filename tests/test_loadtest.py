"""The load generator of module 06: counts, intended-time bookkeeping, coordinated omission, safety.

No test asserts an absolute time. Runs against a real server are short, and their checks are
counts or effects many times larger than the noise of a busy machine.
"""

import threading
import time

import numpy as np
import psutil
import pytest

from course_lib.loadtest import (
    LoadResult,
    QueueService,
    check_local_url,
    constant_schedule,
    poisson_schedule,
    run_closed,
    run_locust,
    run_open,
    serve_queue,
    simulate_sender,
    stall_truth,
)
from course_lib.loadtest.omission import stalled_server


def _server_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("uvicorn")]


# ---------------------------------------------------------------- schedules and bookkeeping


def test_schedules_have_the_planned_counts():
    assert len(constant_schedule(rate=50, seconds=2)) == 100
    times = poisson_schedule(rate=200, seconds=5, seed=3)
    assert times[0] == 0 and np.all(np.diff(times) >= 0) and times[-1] < 5
    assert 850 < len(times) < 1150  # 1000 expected; a Poisson count's sd is about 32
    assert np.array_equal(times, poisson_schedule(rate=200, seconds=5, seed=3))


def test_schedules_are_bounded():
    with pytest.raises(ValueError, match="MAX_REQUESTS"):
        constant_schedule(rate=100_000, seconds=10)
    with pytest.raises(ValueError, match="seconds"):
        poisson_schedule(rate=1, seconds=3600, seed=0)


def test_latency_counts_from_the_intended_start():
    r = LoadResult("x", [0.0, 1.0], [0.5, 1.0], [0.6, 1.2], [200, 200], t0=0.0, seconds=2.0)
    assert r.latency.tolist() == pytest.approx([0.6, 0.2])
    assert r.response_time.tolist() == pytest.approx([0.1, 0.2])
    assert r.lag.tolist() == pytest.approx([0.5, 0.0])
    assert r.histogram.get_total_count() == 2
    assert r.histogram.get_max_value() == pytest.approx(600_000, rel=1e-3)  # microseconds


def test_unfinished_requests_are_counted_not_timed():
    r = LoadResult("x", [0.0, 0.1], [0.0, 0.1], [0.2, np.nan], [200, -1], t0=0.0, seconds=1.0)
    assert (r.answered, r.unfinished) == (1, 1)
    assert r.histogram.get_total_count() == 1


# ---------------------------------------------------------------- coordinated omission on paper


def test_a_waiting_sender_omits_the_stall_and_the_intended_time_recovers_it():
    intended = constant_schedule(rate=100, seconds=4)  # one request every 10 ms
    stall = [(1.0, 2.0)]
    sent, done = simulate_sender(intended, stalled_server(0.001, stall), connections=1)
    from_send, from_intended = done - sent, done - intended
    truth = stall_truth(intended, stall, 0.001)
    assert np.sum(from_send > 0.5) == 1  # one sample for the whole stall
    assert np.sum(truth > 0.5) == 51  # but 51 requests were meant to start at t = 1.00 ... 1.50
    assert np.sum(from_intended > 0.5) >= 51
    assert np.percentile(from_send, 99) < 0.01 < 0.9 < np.percentile(from_intended, 99)


def test_hdrhistogram_correction_adds_the_omitted_samples():
    intended = constant_schedule(rate=100, seconds=4)
    sent, done = simulate_sender(intended, stalled_server(0.001, [(1.0, 2.0)]), connections=1)
    r = LoadResult("sim", intended, sent, done, np.full(intended.size, 200), t0=0.0, seconds=4.0)
    corrected = r.corrected_histogram(expected_interval=0.01)
    assert corrected.get_total_count() > r.requests + 90  # about 100 samples back-filled
    truth_p99 = np.percentile(stall_truth(intended, [(1.0, 2.0)], 0.001), 99)
    assert corrected.get_value_at_percentile(99) / 1e6 == pytest.approx(truth_p99, rel=0.1)
    assert r.histogram.get_value_at_percentile(50) < 20_000  # uncorrected median: milliseconds


def test_enough_connections_send_on_time():
    intended = constant_schedule(rate=100, seconds=2)
    sent, _ = simulate_sender(intended, stalled_server(0.001, [(0.5, 1.5)]), connections=200)
    assert np.array_equal(sent, intended)


# ---------------------------------------------------------------- safety


@pytest.mark.parametrize("url", ["http://example.com", "http://10.0.0.5:8000", "https://127.0.0.1", "ftp://localhost"])
def test_only_this_machine_is_a_target(url):
    with pytest.raises(ValueError, match="only sends to this machine"):
        check_local_url(url)
    with pytest.raises(ValueError, match="only sends to this machine"):
        run_open(url, constant_schedule(rate=1, seconds=1))
    with pytest.raises(ValueError, match="only sends to this machine"):
        run_closed(url, users=1, seconds=1)


def test_locust_refuses_other_hosts_before_starting(tmp_path):
    with pytest.raises(ValueError, match="only sends to this machine"):
        run_locust(tmp_path / "locustfile.py", "http://example.com", users=1, run_time=1, folder=tmp_path)
    with pytest.raises(ValueError, match="whole number"):
        run_locust(tmp_path / "locustfile.py", "http://127.0.0.1:1", users=1, run_time=1.5, folder=tmp_path)


def test_the_server_stops_also_on_error():
    with pytest.raises(RuntimeError, match="boom"):
        with serve_queue(service_time=0.001) as (url, _):
            assert _server_threads()
            raise RuntimeError("boom")
    assert not _server_threads()


def test_the_service_validates_its_settings():
    with pytest.raises(ValueError, match="workers"):
        QueueService(workers=0)
    with pytest.raises(ValueError, match="distribution"):
        QueueService(distribution="uniform")
    assert QueueService(service_time=0.004, workers=2).capacity == 500


# ---------------------------------------------------------------- against a real server


def test_open_loop_sends_every_scheduled_request_and_keeps_the_schedule():
    schedule = constant_schedule(rate=200, seconds=0.5)
    with serve_queue(service_time=0.001, workers=20, distribution="constant") as (url, service):
        r = run_open(url, schedule)
    assert (r.requests, r.answered, r.unfinished, service.served) == (100, 100, 0, 100)
    assert np.array_equal(r.intended, schedule)
    assert np.all(r.sent >= r.intended) and np.all(r.done > r.sent)
    assert np.all(r.latency >= r.response_time)
    assert set(r.status) == {200}
    assert not _server_threads()


def test_closed_loop_users_never_overlap_and_respect_the_bounds():
    with serve_queue(service_time=0.002, workers=10, distribution="constant") as (url, service):
        r = run_closed(url, users=3, seconds=0.5, think=0.01, max_requests=40)
    assert r.requests <= 40 + 3 and r.requests == service.served  # in flight when the cap hit: one per user
    assert r.intended.max() < 0.5
    # at any moment, at most 3 requests are between intended start and answer
    events = sorted([(t, 1) for t in r.intended] + [(t, -1) for t in r.done], key=lambda e: (e[0], e[1]))
    assert max(np.cumsum([step for _, step in events])) <= 3


def test_a_stall_shows_from_the_intended_start_and_not_in_a_closed_loop():
    with serve_queue(service_time=0.001, workers=50, distribution="constant") as (url, service):
        service.stall(0.6, after=0.3)
        closed = run_closed(url, users=1, seconds=1.2, think=0.01)
        service.stall(0.6, after=0.3)
        opened = run_open(url, constant_schedule(rate=100, seconds=1.2))
    _, open_stall = service.stalls
    truth = stall_truth(opened.intended + opened.t0, [open_stall], 0.001)
    assert np.sum(closed.response_time > 0.3) == 1  # one user, one slow sample
    assert np.sum(opened.latency > 0.3) >= 0.8 * np.sum(truth > 0.3) >= 20
    assert opened.latency.max() >= 0.5  # a request that arrived at the stall's start waited it out


def test_saturation_caps_throughput_at_the_capacity():
    with serve_queue(service_time=0.01, workers=1, seed=0) as (url, service):
        r = run_open(url, poisson_schedule(rate=300, seconds=0.5, seed=1))  # 3x the capacity
    assert r.answered == r.requests
    assert r.throughput < 0.6 * 300  # capacity 100/s: far below what was offered
    assert r.percentiles()["p99"] > 10 * 0.01  # waited behind many others


def test_locust_runs_headless_and_leaves_nothing_behind(tmp_path):
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text(
        "from locust import HttpUser, constant, task\n\n"
        "class Visitor(HttpUser):\n"
        "    wait_time = constant(0.01)\n\n"
        "    @task\n"
        "    def work(self):\n"
        "        self.client.get('/work')\n"
    )
    before = set(psutil.Process().children(recursive=True))  # e.g. a grading worker another test left idle
    with serve_queue(service_time=0.001, workers=20, distribution="constant") as (url, service):
        run = run_locust(locustfile, url, users=2, run_time=1, processes=1, folder=tmp_path, timeout=60)
        time.sleep(0.2)
    total = run.total
    assert total["Request Count"] > 0 and total["Failure Count"] == 0
    assert total["Request Count"] <= service.served
    assert "--processes" in run.command
    assert not set(psutil.Process().children(recursive=True)) - before
