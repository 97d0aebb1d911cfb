"""The capstone (module 07): a slow bookstore service with explicit seams, its workload and its gates.

- :mod:`.service`: :class:`Parts` (the seams), :data:`SLOW` (the service as it ships),
  :func:`capstone_service` (a fresh service over a fresh database and cache);
- :mod:`.warehouse`: the blocking, flaky stock service the bookstore depends on;
- :mod:`.load`: the fixed workload, an open-loop run of it, and a verdict against the SLO;
- :mod:`.gates`: what the graded cells count on a service made of your parts.
"""

from course_lib.capstone.load import MIX, Verdict, load_warehouse, run_mix, served, verdict, workload
from course_lib.capstone.service import SLOW, NoCache, Parts, Service, app_client, book_reviews, capstone_service
from course_lib.capstone.warehouse import RetryStorm, Warehouse, WarehouseError, stock_level

__all__ = [
    "MIX",
    "SLOW",
    "NoCache",
    "Parts",
    "RetryStorm",
    "Service",
    "Verdict",
    "Warehouse",
    "WarehouseError",
    "app_client",
    "book_reviews",
    "capstone_service",
    "load_warehouse",
    "run_mix",
    "served",
    "stock_level",
    "verdict",
    "workload",
]
