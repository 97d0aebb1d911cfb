"""Resilience and load balancing, in simulated time where possible: the library behind lesson 06.

One small module per idea:

=================  =====================================================================
``faults``         ``Dependency`` (simulated: latency, errors, outages, capacity) and
                   ``FlakyService`` (a real function failing on a fake clock)
``retry``          ``Backoff`` (exponential, full jitter), ``RetryBudget``, ``retry_call``
``breaker``        ``CircuitBreaker`` on a clock; ``pybreaker_on_clock`` and ``run_script``
``simulate``       ``Client`` (timeout, retries, budget, breaker), ``run`` -> ``Outcome``
``bulkhead``       ``Bulkhead`` (bounded concurrency) and ``simulate_service``
``balancing``      balancing policies, ``HashRing``, ``HealthChecker``, ``balance``
``pooling``        ``gc_activity`` (collections via ``gc.callbacks``), ``RecordPool``
``tinyhttp``       ``tiny_server``: an HTTP/1.1 server in a subprocess that counts connections
=================  =====================================================================

>>> from course_lib.resilience import Backoff
>>> Backoff(base=0.1, cap=1.0).bound(3)
0.4
"""

from course_lib.resilience.breaker import CircuitBreaker, CircuitOpenError
from course_lib.resilience.bulkhead import Bulkhead, BulkheadFull
from course_lib.resilience.faults import Dependency, DependencyError, FlakyService, Outage
from course_lib.resilience.retry import Backoff, RetryBudget, retry_call
from course_lib.resilience.simulate import Client, Outcome, outcome_table, run

__all__ = [
    "Backoff",
    "Bulkhead",
    "BulkheadFull",
    "CircuitBreaker",
    "CircuitOpenError",
    "Client",
    "Dependency",
    "DependencyError",
    "FlakyService",
    "Outage",
    "Outcome",
    "RetryBudget",
    "outcome_table",
    "retry_call",
    "run",
]
