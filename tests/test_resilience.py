"""course_lib.resilience: behaviour on fake clocks and in simulated time, so every assert is exact."""

import random
import threading

import pybreaker
import pytest
import tenacity

from course_lib.caching.clock import FakeClock
from course_lib.resilience import (
    Backoff,
    Bulkhead,
    BulkheadFull,
    CircuitBreaker,
    CircuitOpenError,
    Client,
    Dependency,
    DependencyError,
    FlakyService,
    Outage,
    RetryBudget,
    retry_call,
    run,
)
from course_lib.resilience.balancing import (
    HashRing,
    HealthChecker,
    LeastConnections,
    PowerOfTwo,
    RoundRobin,
    Server,
    StickyHash,
    WeightedRoundRobin,
    balance,
    mod_n,
    moved_share,
)
from course_lib.resilience.breaker import pybreaker_on_clock, run_script
from course_lib.resilience.bulkhead import simulate_service
from course_lib.resilience.pooling import RecordPool, gc_activity, handle_new, handle_pooled

# --------------------------------------------------------------------------- faults


def test_dependency_outages_by_kind():
    dep = Dependency(
        latency=0.01,
        servers=1,
        outages=[Outage(1, 2, "error"), Outage(3, 4, "hang"), Outage(5, 6, "stall")],
        seed=1,
    )
    assert dep.call(1.5) == (1.5, False)
    assert dep.call(3.5) == (4, False)
    answer, ok = dep.call(5.5)
    assert ok and answer > 6  # served late, after the stall
    assert dep.calls == 3


def test_dependency_is_deterministic_and_validates():
    a = [Dependency(error_rate=0.3, seed=7).call(float(t)) for t in range(50)]
    b = [Dependency(error_rate=0.3, seed=7).call(float(t)) for t in range(50)]
    assert a == b
    with pytest.raises(ValueError, match="servers"):
        Dependency(outages=[Outage(0, 1, "stall")])
    with pytest.raises(ValueError, match="start < end"):
        Outage(2, 1)


# --------------------------------------------------------------------------- retries


@pytest.mark.parametrize("retry", range(1, 12))
def test_full_jitter_stays_within_the_exponential_bound(retry):
    policy, rng = Backoff(base=0.1, cap=2.0), random.Random(retry)
    bound = min(2.0, 0.1 * 2 ** (retry - 1))
    assert policy.bound(retry) == pytest.approx(bound)
    waits = [policy.delay(retry, rng) for _ in range(500)]
    assert all(0 <= w <= bound for w in waits)
    assert max(waits) > 0.9 * bound and min(waits) < 0.1 * bound  # spread over the whole interval


def test_retry_call_counts_attempts_and_waits():
    clock = FakeClock()
    service = FlakyService(clock, down=[(0, 100)], latency=0.0)
    with pytest.raises(DependencyError):
        retry_call(service, attempts=4, backoff=Backoff(1.0, cap=10, jitter=False), sleep=clock.advance, rng=None)
    assert service.calls == 4 and clock() == 1 + 2 + 4  # three waits, none after the last attempt


def test_tenacity_with_full_jitter_retries_as_many_times_within_the_same_bounds():
    clock, waits = FakeClock(), []
    service = FlakyService(clock, down=[(0, 100)], latency=0.0)
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(5),
        wait=tenacity.wait_random_exponential(multiplier=0.1, max=2.0),
        sleep=lambda s: (waits.append(s), clock.advance(s)),
        retry=tenacity.retry_if_exception_type(DependencyError),
        reraise=True,
    )
    with pytest.raises(DependencyError):
        retrying(service)
    assert service.calls == 5 and len(waits) == 4
    assert all(0 <= w <= Backoff(0.1, 2.0).bound(n) for n, w in enumerate(waits, start=1))


def test_retry_budget_caps_retries_as_a_share_of_first_attempts():
    budget = RetryBudget(ratio=0.1, reserve=5)
    granted = 0
    for _ in range(1000):
        budget.deposit()
        granted += sum(budget.try_retry() for _ in range(3))  # everything fails: try three retries
    assert granted <= 0.1 * 1000 + 5 and granted >= 0.1 * 1000 - 1


def test_naive_retries_amplify_load_and_a_budget_or_breaker_stops_it():
    def storm(client):
        return run(Dependency(latency=1 / 150, servers=1, outages=[Outage(10, 15, "stall")], seed=5), client)

    none = storm(Client(timeout=0.5))
    naive = storm(Client(timeout=0.5, retries=3))
    backoff = storm(Client(timeout=0.5, retries=3, backoff=Backoff(0.1, 2)))
    budget = storm(Client(timeout=0.5, retries=3, backoff=Backoff(0.1, 2), budget=0.1))
    breaker = storm(
        Client(timeout=0.5, retries=3, backoff=Backoff(0.1, 2), breaker=lambda c: CircuitBreaker(5, 2.0, clock=c))
    )
    assert none.calls_per_request == 1
    assert naive.calls_per_request > 3 and backoff.calls_per_request > 3  # back-off spreads, does not reduce
    assert naive.success_rate < none.success_rate / 2 and backoff.success_rate < none.success_rate / 2
    assert budget.calls_per_request < 1.1
    assert breaker.success_rate > none.success_rate


def test_simulation_is_deterministic():
    def once():
        return run(Dependency(error_rate=0.2, seed=3), Client(timeout=0.1, retries=2, backoff=Backoff(0.05)))

    a, b = once(), once()
    assert (a.latencies == b.latencies).all() and (a.call_times == b.call_times).all()


def test_timeout_bounds_latency():
    slow = run(Dependency(slow_share=0.05, slow_latency=5, seed=2), Client(), duration=20)
    cut = run(Dependency(slow_share=0.05, slow_latency=5, seed=2), Client(timeout=0.25), duration=20)
    assert slow.latencies.max() == pytest.approx(5.0) and cut.latencies.max() == pytest.approx(0.25)


# --------------------------------------------------------------------------- circuit breaker


def test_breaker_transitions_on_a_fake_clock():
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=10, clock=clock)
    for ok in (False, False, True, False, False):  # a success resets the consecutive count
        breaker.record(ok)
    assert breaker.state == "closed"
    breaker.record(False)
    assert breaker.state == "open" and not breaker.allow()
    clock.advance(9.99)
    assert not breaker.allow()
    clock.advance(0.01)
    assert breaker.allow() and breaker.state == "half-open"
    assert not breaker.allow()  # one trial at a time
    breaker.record(False)  # the trial fails: open again, for another reset_timeout
    assert breaker.state == "open" and breaker.opened_at == 10
    clock.advance(10)
    assert breaker.allow()
    breaker.record(True)
    assert breaker.state == "closed"
    assert [new for _, _, new in breaker.transitions] == ["open", "half-open", "open", "half-open", "closed"]
    assert breaker.rejected == 3


def test_breaker_call_raises_without_calling_when_open():
    clock = FakeClock()
    breaker = CircuitBreaker(1, 5, clock=clock)
    service = FlakyService(clock, down=[(0, 1)], latency=0.1)
    with pytest.raises(DependencyError):
        breaker.call(service)
    with pytest.raises(CircuitOpenError):
        breaker.call(service)
    assert service.calls == 1


SCRIPT = [(0, True), (1, False), (2, False), (3, False), (5, True), (13, False), (20, True), (23, True), (24, False)]


def test_our_breaker_and_pybreaker_agree_on_a_script():
    start = 1_700_000_000  # pybreaker's clock is a datetime: start at a plausible Unix time
    script = [(start + t, ok) for t, ok in SCRIPT]
    clock = FakeClock(start)
    ours = CircuitBreaker(3, 10, clock=clock)
    expected = run_script(ours.call, lambda: ours.state, clock, script)
    clock = FakeClock(start)
    with pybreaker_on_clock(clock):
        theirs = pybreaker.CircuitBreaker(fail_max=3, reset_timeout=10)
        got = run_script(theirs.call, lambda: theirs.current_state, clock, script)
    assert got == expected
    assert [row[1] for row in expected] == [
        "ok",
        "failed",
        "failed",
        "failed",
        "rejected",
        "failed",
        "rejected",
        "ok",
        "failed",
    ]


def test_pybreaker_on_clock_restores_the_wall_clock():
    before = pybreaker.datetime
    with pybreaker_on_clock(FakeClock(0)):
        assert pybreaker.datetime is not before
    assert pybreaker.datetime is before


# --------------------------------------------------------------------------- bulkhead


def test_bulkhead_admits_at_most_its_limit_across_threads():
    bulkhead, release, results = Bulkhead(3), threading.Event(), []
    lock = threading.Lock()

    def worker():
        try:
            with bulkhead.enter():
                with lock:
                    results.append("in")
                release.wait(timeout=30)
        except BulkheadFull:
            with lock:
                results.append("refused")

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    while True:  # wait until every thread has entered or been refused
        with lock:
            if len(results) == 10:
                break
        threading.Event().wait(0.001)
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert results.count("in") == 3 and results.count("refused") == 7
    assert bulkhead.peak == 3 and bulkhead.in_use == 0 and bulkhead.rejected == 7


def test_bulkhead_release_without_acquire_is_an_error():
    with pytest.raises(RuntimeError, match="without a matching"):
        Bulkhead(1).release()


def test_bulkhead_keeps_the_fast_endpoint_fast():
    without, with_ = simulate_service(limit=None), simulate_service(limit=4)
    assert without.summary("fast")["success rate"] < 0.9 and with_.summary("fast")["success rate"] == 1.0
    assert with_.dependency_peak == 4 and without.dependency_peak == 16


# --------------------------------------------------------------------------- balancing

KEYS = [f"user-{i}" for i in range(5000)]
NODES = ["a", "b", "c", "d", "e"]


def test_consistent_hashing_moves_only_the_leaving_node_s_keys():
    before, after = HashRing(NODES), HashRing([n for n in NODES if n != "c"])
    moved = [k for k in KEYS if before.node_for(k) != after.node_for(k)]
    assert all(before.node_for(k) == "c" for k in moved)
    assert len(moved) == sum(before.node_for(k) == "c" for k in KEYS)
    assert 0.1 < len(moved) / len(KEYS) < 0.3  # about 1/N of the keys


def test_mod_n_moves_most_keys():
    assert moved_share(KEYS, mod_n(NODES), mod_n(NODES[:-1])) > 0.7


def test_weighted_round_robin_shares_follow_the_weights():
    servers = [Server("a", 3), Server("b", 1)]
    run_ = balance(servers, WeightedRoundRobin(), rate=2, duration=400, seed=1)
    shares = run_.shares()
    assert abs(shares["a"] - 0.75) < 0.01 and abs(shares["b"] - 0.25) < 0.01


def test_balancing_is_deterministic_and_adaptive_policies_beat_round_robin():
    servers = [Server("a", 100), Server("b", 100), Server("c", 50), Server("d", 25)]
    rr = balance(servers, RoundRobin(), rate=200, duration=30)
    again = balance(servers, RoundRobin(), rate=200, duration=30)
    assert (rr.latencies == again.latencies).all()
    for policy in (LeastConnections(), PowerOfTwo(), WeightedRoundRobin()):
        assert balance(servers, policy, rate=200, duration=30).p99 < rr.p99 / 10


def test_health_checks_remove_a_failed_node():
    servers = [Server("a", 100, fails_at=30), Server("b", 100), Server("c", 50), Server("d", 25)]
    blind = balance(servers, LeastConnections(), rate=150)
    checked = balance(servers, LeastConnections(), rate=150, health=HealthChecker(interval=1, threshold=2))
    assert blind.error_rate > 0.3 and checked.error_rate < 0.05
    up = HealthChecker(interval=1, threshold=2).healthy(servers, 60)
    assert up(30.5) == [0, 1, 2, 3] and up(31.0) == [1, 2, 3]  # probes at 30 and 31 fail: down at 31


def test_sticky_hashing_sends_a_user_to_one_server():
    servers = [Server("a", 100), Server("b", 100), Server("c", 100)]
    run_ = balance(servers, StickyHash(), rate=50, duration=20, users=20)
    assert run_.chosen.size > 500 and len(set(run_.chosen.tolist())) == 3


# --------------------------------------------------------------------------- pooling


def test_pooling_removes_collections_when_many_objects_live_at_once():
    pool = RecordPool(2000)
    with gc_activity() as new:
        for _ in range(50):
            handle_new(2000)
    with gc_activity() as pooled:
        for _ in range(50):
            handle_pooled(pool, 2000)
    assert sum(new.collections) >= 50 and sum(pooled.collections) <= 2


def test_short_lived_objects_trigger_almost_no_collections():
    with gc_activity() as activity:
        for _ in range(1000):
            handle_new(100)
    assert sum(activity.collections) <= 5
