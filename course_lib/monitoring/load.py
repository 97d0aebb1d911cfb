"""A small load driver and an in-process scraper, to draw a golden-signals dashboard.

:func:`run_load` sends requests to a server on 127.0.0.1 from a few client threads (a closed
loop: each thread sends its next request when the previous one is answered) through a
sequence of :class:`Phase` s, each of which can change the app (inject a fault) when it
begins. It stops by itself after the last phase, and records every request the client made.

:class:`Scraper` does what a Prometheus server does, in the notebook: it reads ``/metrics``
at a fixed interval and keeps every sample with the time it was read. :func:`golden_signals`
then computes, for each scrape, the four golden signals over a trailing window from those
counters, the way ``rate()`` and ``histogram_quantile()`` do in PromQL (without PromQL's
extrapolation to the window's edges).
"""

from __future__ import annotations

import queue
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from course_lib.monitoring.metrics import parse_metrics
from course_lib.monitoring.quantiles import histogram_quantile, parse_le

__all__ = [
    "Phase",
    "run_load",
    "gc_pauses",
    "frozen_gc",
    "Scraper",
    "scraping",
    "golden_signals",
    "client_signals",
    "plot_golden_signals",
]


@dataclass(frozen=True)
class Phase:
    """``seconds`` of load; ``begin`` (optional) runs once when the phase starts."""

    name: str
    seconds: float
    begin: Callable[[], None] | None = None


def _check_local(base_url: str) -> None:
    if not base_url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        raise ValueError(f"the load driver only targets this machine (127.0.0.1); got {base_url!r}")


def run_load(
    base_url: str,
    phases: Sequence[Phase],
    *,
    path: Callable[[np.random.Generator], str] = lambda rng: f"/books/{int(rng.integers(1, 1100))}",
    rate: float | None = None,
    clients: int = 4,
    max_requests: int = 20_000,
    seed: int = 0,
    timeout: float = 5.0,
) -> pd.DataFrame:
    """Drive ``base_url`` through ``phases``; one row per request sent.

    Without ``rate``, a **closed loop**: ``clients`` threads each send a request, wait for
    the answer, and send the next. With ``rate`` (requests per second), an **open loop**:
    requests arrive at random (Poisson) times at that average rate whatever the server
    does, and ``clients`` threads send them; a request's latency then counts from its
    scheduled arrival, so time spent waiting for a free client thread is included.

    Columns: ``phase``, ``start_s`` (from the start of the run), ``seconds`` (latency as the
    client saw it), ``status`` (0 for a transport error), ``request_id`` (the response's
    ``X-Request-ID`` header, if any). ``path(rng)`` chooses each request's path from a
    seeded generator. The run stops after the phases or ``max_requests`` requests.
    ``records.attrs`` holds ``t0`` (``time.perf_counter()`` at the start), ``wall_t0``
    (``time.time()`` at the start) and ``phases``, ``(name, start_s, end_s)`` for each phase.
    """
    import httpx

    _check_local(base_url)
    rows: list[tuple[str, float, float, int, str]] = []
    spans: list[tuple[str, float, float]] = []
    lock = threading.Lock()
    stop = threading.Event()
    work: queue.Queue = queue.Queue()
    # Made before the clock starts: an httpx.Client takes milliseconds to create (TLS setup),
    # which would otherwise delay the first requests of every thread. One TLS context serves
    # them all: each client would otherwise load the CA bundle again (tens of ms per client),
    # leaving the server idle for a moment between two runs.
    context = ssl.create_default_context()
    https = [httpx.Client(base_url=base_url, timeout=timeout, verify=context) for _ in range(clients)]
    t0, wall_t0 = time.perf_counter(), time.time()
    current = {"phase": phases[0].name if phases else ""}

    def send(http: httpx.Client, phase: str, target: str, scheduled: float) -> None:
        try:
            response = http.get(target)
            status, request_id = response.status_code, response.headers.get("x-request-id", "")
        except httpx.HTTPError:
            status, request_id = 0, ""
        end = time.perf_counter()
        with lock:
            rows.append((phase, scheduled - t0, end - scheduled, status, request_id))
            if len(rows) >= max_requests:
                stop.set()

    def closed_client(number: int) -> None:
        rng = np.random.default_rng([seed, number])
        while not stop.is_set():
            send(https[number], current["phase"], path(rng), time.perf_counter())

    def open_client(number: int) -> None:
        while (item := work.get()) is not None:
            if not stop.is_set():
                send(https[number], *item)

    threads = [
        threading.Thread(target=open_client if rate else closed_client, args=(i,), daemon=True) for i in range(clients)
    ]
    arrivals = np.random.default_rng([seed, 10**6])
    next_arrival = t0
    try:
        for number, phase in enumerate(phases):
            current["phase"] = phase.name
            if phase.begin is not None:
                phase.begin()
            began = time.perf_counter()
            if number == 0:
                for thread in threads:
                    thread.start()
            while (now := time.perf_counter()) < began + phase.seconds and not stop.is_set():
                if rate and next_arrival <= now:
                    work.put((phase.name, path(arrivals), next_arrival))
                    next_arrival += arrivals.exponential(1 / rate)
                else:
                    time.sleep(min(next_arrival - now, 0.01) if rate else 0.02)
            spans.append((phase.name, began - t0, time.perf_counter() - t0))
    finally:
        stop.set()  # requests still queued when the last phase ends are dropped, not sent
        for _ in threads:
            work.put(None)
        for thread in threads:
            if thread.ident is not None:  # started
                thread.join(timeout + 1)
        for http in https:
            http.close()
    records = pd.DataFrame(rows, columns=["phase", "start_s", "seconds", "status", "request_id"])
    records = records.sort_values("start_s", ignore_index=True)
    records.attrs["t0"] = t0  # time.perf_counter() at the start: align other clocks with it
    records.attrs["wall_t0"] = wall_t0  # time.time() at the start, for a Prometheus server's timestamps
    records.attrs["phases"] = spans  # (name, start_s, end_s) of each phase
    return records


@contextmanager
def gc_pauses() -> Iterator[list[tuple[float, int, float]]]:
    """Record this process's garbage-collection pauses while the block runs.

    Yields a list that fills with ``(time.perf_counter() at the start, generation, seconds)``
    for every collection (``gc.callbacks``). A server and its load generator in one process
    share these pauses: a full (generation 2) collection stops every thread.
    """
    import gc

    pauses: list[tuple[float, int, float]] = []
    started: dict[str, float] = {}

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            started["t"] = time.perf_counter()
        elif "t" in started:
            pauses.append((started["t"], info["generation"], time.perf_counter() - started["t"]))

    gc.callbacks.append(callback)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(callback)


@contextmanager
def frozen_gc() -> Iterator[int]:
    """Collect once, then hide every existing object from the garbage collector for the block.

    ``gc.freeze()`` (Python 3.7+) moves all tracked objects to a permanent generation that
    later collections skip, so a full collection during the block scans only new objects.
    A notebook kernel full of earlier results makes full collections long, and each one
    stops every thread of the process, server and load generator alike. Yields the number
    of objects frozen; ``gc.unfreeze()`` runs on exit, also when the block raises.
    """
    import gc

    gc.collect()
    gc.freeze()
    try:
        yield gc.get_freeze_count()
    finally:
        gc.unfreeze()


class Scraper:
    """Reads ``url`` (a ``/metrics`` endpoint) every ``interval`` seconds in a thread.

    ``samples`` is a list of ``(time.perf_counter() when the scrape began, {(sample name, sorted
    label pairs): value})``. Like a Prometheus server, which stamps each sample with the time
    its scrape started, the time is taken before the request: on a busy machine, fetching and
    parsing the page can take long enough to shift every point of a dashboard to the right.
    Use it as a context manager (:func:`scraping`), or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, url: str, interval: float = 0.25) -> None:
        self.url = url
        self.interval = interval
        self.samples: list[tuple[float, dict[tuple[str, tuple[tuple[str, str], ...]], float]]] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="course-scraper", daemon=True)
        self._client = None  # one connection for all scrapes, made on first use

    def scrape_once(self) -> None:
        import httpx

        if self._client is None:
            self._client = httpx.Client(timeout=2.0)
        began = time.perf_counter()
        try:
            text = self._client.get(self.url).text
        except httpx.HTTPError:
            self.errors += 1
            return
        flat = {
            (s.name, tuple(sorted(s.labels.items()))): s.value for family in parse_metrics(text) for s in family.samples
        }
        self.samples.append((began, flat))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.scrape_once()
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        try:
            self.scrape_once()  # a last look, so the final counts are in
        finally:
            if self._client is not None:
                self._client.close()
                self._client = None


@contextmanager
def scraping(url: str, interval: float = 0.25) -> Iterator[Scraper]:
    """Scrape ``url`` every ``interval`` seconds while the block runs (stopped also on error)."""
    scraper = Scraper(url, interval)
    scraper.start()
    try:
        yield scraper
    finally:
        scraper.stop()


def _total(flat: dict, name: str, where: Callable[[dict[str, str]], bool] = lambda labels: True) -> float:
    return sum(v for (n, labels), v in flat.items() if n == name and where(dict(labels)))


def _buckets(flat: dict, name: str) -> dict[float, float]:
    out: dict[float, float] = {}
    for (n, labels), v in flat.items():
        if n == f"{name}_bucket":
            le = parse_le(dict(labels)["le"])
            out[le] = out.get(le, 0.0) + v
    return out


def golden_signals(
    scraper: Scraper,
    *,
    window: float = 1.0,
    origin: float | None = None,
    prefix: str = "http",
    quantiles: Sequence[float] = (0.5, 0.95, 0.99),
) -> pd.DataFrame:
    """The four golden signals at each scrape, over the trailing ``window`` seconds.

    traffic: requests/s (``rate(http_requests_total[w])``); errors: share of 5xx responses;
    latency: ``histogram_quantile(q, rate(..._bucket[w]))`` for each q; saturation: ``busy``,
    the average number of requests in progress over the window, which is the rate of the
    duration histogram's sum (``rate(..._seconds_sum[w])``: seconds spent in requests per
    second, Little's law), and ``in_progress``, the gauge as last scraped (a noisy snapshot).
    Rows start once a full window has been scraped.
    Column ``t`` is in seconds from ``origin`` (a ``time.perf_counter()`` value such as a
    load run's ``records.attrs["t0"]``; default: the first scrape).
    """
    rows = []
    times = [t for t, _ in scraper.samples]
    origin = times[0] if origin is None and times else (origin or 0.0)
    for i, (t, now) in enumerate(scraper.samples):
        j = int(np.searchsorted(times, t - window, side="right")) - 1
        if j < 0 or j >= i or times[j] < origin:  # a full window, after the origin
            continue
        t_then, then = scraper.samples[j]
        dt = t - t_then
        total = _total(now, f"{prefix}_requests_total") - _total(then, f"{prefix}_requests_total")
        errors = _total(now, f"{prefix}_requests_total", lambda lab: lab.get("status", "").startswith("5")) - _total(
            then, f"{prefix}_requests_total", lambda lab: lab.get("status", "").startswith("5")
        )
        b_now, b_then = (
            _buckets(now, f"{prefix}_request_duration_seconds"),
            _buckets(then, f"{prefix}_request_duration_seconds"),
        )
        increase = {le: b_now[le] - b_then.get(le, 0.0) for le in b_now}
        busy = (
            _total(now, f"{prefix}_request_duration_seconds_sum")
            - _total(then, f"{prefix}_request_duration_seconds_sum")
        ) / dt
        row = {
            "t": t - origin,
            "traffic_rps": total / dt,
            "error_ratio": errors / total if total else np.nan,
            "busy": busy,
            "in_progress": _total(now, f"{prefix}_requests_in_progress"),
        }
        for q in quantiles:
            row[f"p{q * 100:g}_s"] = histogram_quantile(q, increase) if increase else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def client_signals(
    records: pd.DataFrame, *, window: float = 1.0, step: float = 0.25, quantiles: Sequence[float] = (0.5, 0.95, 0.99)
) -> pd.DataFrame:
    """The same signals from the client's own records (:func:`run_load`), for comparison.

    Requests are placed at the time they finished; latency percentiles are exact (from the
    samples), which is what the bucket estimates are compared with.
    """
    done = records["start_s"] + records["seconds"]
    rows = []
    for t in np.arange(window, float(done.max()) + step, step):
        mask = (done > t - window) & (done <= t)
        chunk = records[mask]
        row = {
            "t": t,
            "traffic_rps": len(chunk) / window,
            "error_ratio": float((chunk["status"] >= 500).mean()) if len(chunk) else np.nan,
        }
        for q in quantiles:
            row[f"p{q * 100:g}_s"] = float(np.percentile(chunk["seconds"], q * 100)) if len(chunk) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


#: The four panels of :func:`plot_golden_signals`: (column, y label, title).
PANELS = (
    ("traffic_rps", "requests per second", "Traffic"),
    ("error_ratio", "share of responses that are 5xx", "Errors"),
    ("p95_s", "seconds (log scale)", "Latency"),
    ("busy", "requests in progress (window average)", "Saturation"),
)


def plot_golden_signals(
    axes,
    server: pd.DataFrame,
    *,
    client: pd.DataFrame | None = None,
    phases: Sequence[tuple[str, float, float]] = (),
    source: str = "/metrics",
    pauses: Sequence[float] = (),
) -> None:
    """Draw the four golden signals on four axes, one panel each, phases shaded.

    ``server`` has the columns of :func:`golden_signals` (or the same figures read through
    PromQL); ``client`` (optional, :func:`client_signals`) adds the client's own view of
    traffic and p95 latency, dashed. ``phases`` are ``(name, start_s, end_s)``; ``pauses``
    are times (s) to mark on the latency panel, such as long garbage-collection pauses.
    """
    axes = list(axes)
    for t in pauses:
        axes[2].axvline(t, color="grey", linewidth=0.8, linestyle=":")
    for ax, (column, ylabel, title) in zip(axes, PANELS):
        for k, (name, start, end) in enumerate(phases):
            ax.axvspan(start, end, color=f"C{k}", alpha=0.08, label=name if column == "traffic_rps" else None)
        if column == "p95_s":
            for q, style in (("p50_s", ":"), ("p95_s", "-"), ("p99_s", "--")):
                if q in server:
                    ax.plot(server["t"], server[q], style, color="C0", label=f"{q[:-2]} from buckets ({source})")
            if client is not None:
                ax.plot(client["t"], client["p95_s"], color="C3", alpha=0.7, label="p95 seen by the client")
            ax.set_yscale("log")
        else:
            if column == "busy" and "in_progress" in server:
                ax.plot(
                    server["t"],
                    server["in_progress"],
                    ".",
                    color="grey",
                    markersize=3,
                    label="gauge at each scrape (snapshots)",
                )
            ax.plot(server["t"], server[column], color="C0", label=source)
            if client is not None and column in client and column != "error_ratio":
                ax.plot(client["t"], client[column], color="C3", alpha=0.7, linestyle="--", label="client")
        ax.set(title=title, ylabel=ylabel, xlabel="time since the load started (s)")
        ax.legend(fontsize="x-small", loc="upper left")
