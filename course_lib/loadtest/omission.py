"""Coordinated omission on paper: a stalled server, a sender that waits, and the truth.

A server that stalls from ``start`` to ``end`` answers a request sent at ``t`` inside the stall
after ``end - t + service_time``; outside, after ``service_time`` (:func:`stalled_server`).
A user arriving at ``t`` experiences exactly that, so the *truth* for a schedule is that
function at each intended start (:func:`stall_truth`). A load generator with a few
connections that waits for each answer before sending on that connection sends late during
the stall, and if it starts its clock when it sends, it records one long sample per
connection instead of one per intended request (:func:`simulate_sender`).

One connection, a request every 10 ms for 3 s, a 1 s stall from t = 1 s:

>>> intended = np.arange(300) * 0.01
>>> server = stalled_server(0.001, [(1.0, 2.0)])
>>> sent, done = simulate_sender(intended, server, connections=1)
>>> int(np.sum(done - sent > 0.1)), int(np.sum(done - intended > 0.1))   # slow samples: sent vs intended
(1, 101)
>>> int(np.sum(stall_truth(intended, [(1.0, 2.0)], 0.001) > 0.1))
91
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["simulate_sender", "stall_truth", "stalled_server"]


def stalled_server(service_time: float, stalls: Sequence[tuple[float, float]]) -> Callable[[float], float]:
    """Latency of a request sent at time ``t`` to a server that takes ``service_time`` and
    answers nothing during ``stalls``, each ``(start, end)`` on the same clock as ``t``.

    >>> stalled_server(0.002, [(1.0, 2.0)])(1.25)
    0.752
    """

    def latency(t: float) -> float:
        for start, end in stalls:
            if start <= t < end:
                return end - t + service_time
        return service_time

    return latency


def stall_truth(intended: ArrayLike, stalls: Sequence[tuple[float, float]], service_time: float) -> np.ndarray:
    """What users arriving at ``intended`` times experience from a server stalled during ``stalls``.

    Every user is served on their own (no sender to wait for), so this is the server's
    latency at each intended start. Queueing after the stall is left out: it is a lower bound.
    """
    server = stalled_server(service_time, stalls)
    return np.array([server(float(t)) for t in np.asarray(intended, dtype=float)])


def simulate_sender(
    intended: ArrayLike, server: Callable[[float], float], *, connections: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """When each request is sent and answered by a sender with ``connections`` connections.

    A request goes out on the first free connection, not before its intended start; a
    connection is busy until its answer comes, ``server(send_time)`` seconds later. Returns
    ``(sent, done)``. With enough connections, ``sent == intended``.
    """
    if isinstance(connections, bool) or not isinstance(connections, int) or connections < 1:
        raise ValueError(f"connections must be a whole number >= 1, got {connections!r}")
    times = np.asarray(intended, dtype=float)
    free_at = [-np.inf] * connections  # a heap: when each connection is next free
    sent, done = np.empty_like(times), np.empty_like(times)
    for i, t in enumerate(times):
        sent[i] = max(t, heapq.heappop(free_at))
        done[i] = sent[i] + server(sent[i])
        heapq.heappush(free_at, done[i])
    return sent, done
