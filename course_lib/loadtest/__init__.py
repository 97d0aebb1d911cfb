"""Module 06, load testing: a readable load generator, a server to drive, and Locust.

- :mod:`~course_lib.loadtest.generator`: closed loops (users with think time) and open loops
  (constant or Poisson schedules), every request timed from its intended start;
- :mod:`~course_lib.loadtest.results`: :class:`LoadResult`, raw samples and an HdrHistogram;
- :mod:`~course_lib.loadtest.server`: :class:`QueueService`, known service times and stalls,
  served on 127.0.0.1 by :func:`serve_queue`;
- :mod:`~course_lib.loadtest.omission`: coordinated omission on paper, and the truth of a stall;
- :mod:`~course_lib.loadtest.saturation`: a saturation table plotted against M/M/1;
- :mod:`~course_lib.loadtest.locust_run`: Locust headless in a subprocess, its CSV as pandas.
"""

from course_lib.loadtest.generator import (
    MAX_REQUESTS,
    MAX_SECONDS,
    check_local_url,
    constant_schedule,
    poisson_schedule,
    run_closed,
    run_open,
)
from course_lib.loadtest.locust_run import LocustRun, run_locust
from course_lib.loadtest.omission import simulate_sender, stall_truth
from course_lib.loadtest.results import LoadResult, new_histogram
from course_lib.loadtest.saturation import plot_saturation
from course_lib.loadtest.server import QueueService, serve_queue

__all__ = [
    "MAX_REQUESTS",
    "MAX_SECONDS",
    "LoadResult",
    "LocustRun",
    "QueueService",
    "check_local_url",
    "constant_schedule",
    "new_histogram",
    "plot_saturation",
    "poisson_schedule",
    "run_closed",
    "run_locust",
    "run_open",
    "serve_queue",
    "simulate_sender",
    "stall_truth",
]
