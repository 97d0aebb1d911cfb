"""Talk to a real Prometheus server: PromQL queries over its HTTP API, and starting one.

:class:`PrometheusAPI` wraps the two query endpoints of the HTTP API (``/api/v1/query`` and
``/api/v1/query_range``) with the standard library only. Which server to use is decided in
one place, :func:`course_lib.backends.prometheus_url` (``COURSE_PROMETHEUS_URL``)::

    >>> from course_lib.backends import prometheus_url
    >>> url = prometheus_url()
    >>> if url:
    ...     answer = PrometheusAPI(url).query("up")

:func:`run_prometheus` starts Debian's (or any) ``prometheus`` binary on 127.0.0.1 with a
temporary configuration and data directory, waits until it is ready, and stops it and
removes everything on exit. The course's tests use it to check ``histogram_quantile``
against the real server; :func:`scrape_config` writes the configuration it needs.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from course_lib.monitoring.server import free_port

__all__ = [
    "PrometheusAPI",
    "PrometheusError",
    "scrape_config",
    "run_prometheus",
    "RunningPrometheus",
    "APP_PORT_ENV",
    "DEFAULT_APP_PORT",
    "lesson_app_port",
    "instance_selector",
    "range_signals",
]

#: The variable naming the fixed port the lesson serves its app on when a real Prometheus is
#: used, so that the server's configuration can name the target in advance.
APP_PORT_ENV = "COURSE_APP_PORT"
#: The port used when ``COURSE_PROMETHEUS_URL`` is set and ``COURSE_APP_PORT`` is not.
DEFAULT_APP_PORT = 8700


def lesson_app_port(environ: Mapping[str, str] | None = None) -> int:
    """The port the lesson serves its app on: 0 (any free port) without a real Prometheus.

    With ``COURSE_PROMETHEUS_URL`` set, the server must find the app, so the port is fixed:
    ``COURSE_APP_PORT``, or :data:`DEFAULT_APP_PORT`. Configure the server to scrape
    ``127.0.0.1:<that port>`` at least once a second.
    """
    from course_lib.backends import prometheus_url

    env = os.environ if environ is None else environ
    if not prometheus_url(env):
        return 0
    value = env.get(APP_PORT_ENV, "").strip()
    if not value:
        return DEFAULT_APP_PORT
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ValueError(f"{APP_PORT_ENV}={value!r} is not a port number; use e.g. {APP_PORT_ENV}={DEFAULT_APP_PORT}")
    return int(value)


def instance_selector(port: int) -> str:
    """A PromQL label matcher for the app on ``port`` of this machine, however the target is spelled."""
    return f'instance=~"(127.0.0.1|localhost):{port}"'  # "." also matches itself: no escapes needed


class PrometheusError(RuntimeError):
    """The server answered with an error, or did not answer."""


class PrometheusAPI:
    """A minimal client of Prometheus' HTTP API (``url`` like ``http://127.0.0.1:9090``)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=self.timeout) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:  # PromQL errors come back as 400/422 with a JSON body
            try:
                body = json.loads(error.read())
            except ValueError:
                raise PrometheusError(f"{self.url}{path}: HTTP {error.code}") from error
        except (urllib.error.URLError, OSError) as error:
            raise PrometheusError(f"Prometheus at {self.url} did not answer ({error}); is it running?") from error
        if body.get("status") != "success":
            raise PrometheusError(f"{body.get('errorType', 'error')}: {body.get('error', body)} (query {params})")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query: ``[{"metric": {labels}, "value": float}, ...]`` (a scalar result too)."""
        data = self._get("/api/v1/query", {"query": expr, "time": at})
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": float(data["result"][1])}]
        return [{"metric": r["metric"], "value": float(r["value"][1])} for r in data["result"]]

    def value(self, expr: str, at: float | None = None) -> float:
        """The single value of an instant query (NaN if the result is empty; an error if several)."""
        result = self.query(expr, at)
        if len(result) > 1:
            raise PrometheusError(f"{expr!r} returned {len(result)} series; aggregate it (sum, max...) to one")
        return result[0]["value"] if result else math.nan

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """A range query: ``[{"metric": {labels}, "times": [...], "values": [...]}, ...]``."""
        data = self._get("/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step})
        return [
            {
                "metric": r["metric"],
                "times": [float(t) for t, _ in r["values"]],
                "values": [float(v) for _, v in r["values"]],
            }
            for r in data["result"]
        ]

    def wait_until(self, condition: Callable[[], bool], *, timeout: float = 30.0, what: str = "the condition") -> None:
        """Poll ``condition`` (twice a second) until it is true; raise after ``timeout`` seconds.

        A condition that raises ``PrometheusError`` or ``LookupError`` (an empty result
        indexed) counts as not yet true.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                if condition():
                    return
            except (PrometheusError, LookupError):  # not answering yet, or no series yet
                pass
            if time.monotonic() > deadline:
                raise PrometheusError(f"waited {timeout} s for {what} on {self.url}")
            time.sleep(0.5)


def scrape_config(
    targets: Sequence[str], *, job: str = "course-app", scrape_interval: str = "1s", rule_files: Sequence[str] = ()
) -> str:
    """A ``prometheus.yml`` that scrapes ``targets`` (``"127.0.0.1:8000"``) every ``scrape_interval``."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": [
            {"job_name": job, "scrape_interval": scrape_interval, "static_configs": [{"targets": list(targets)}]}
        ],
    }
    if rule_files:
        config["rule_files"] = list(rule_files)
    return yaml.safe_dump(config, sort_keys=False)


@dataclass(frozen=True)
class RunningPrometheus:
    """A server started by :func:`run_prometheus`."""

    url: str
    api: PrometheusAPI
    directory: Path
    process: subprocess.Popen


@contextmanager
def run_prometheus(
    config: str,
    *,
    binary: str = "prometheus",
    port: int = 0,
    startup_timeout: float = 30.0,
    files: dict[str, str] | None = None,
) -> Iterator[RunningPrometheus]:
    """Run ``prometheus`` on 127.0.0.1 with the configuration text ``config``.

    ``files`` are written next to the configuration first (e.g. a rule file it names).
    Everything lives in a temporary directory that is removed on exit; the process is
    terminated (then killed if it lingers), also when the block raises.
    """
    executable = shutil.which(binary)
    if executable is None:
        raise FileNotFoundError(f"{binary!r} is not installed; on Debian: apt-get install prometheus")
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="course-prometheus-") as tmp:
        directory = Path(tmp)
        for name, text in (files or {}).items():
            (directory / name).write_text(text)
        (directory / "prometheus.yml").write_text(config)
        log = (directory / "prometheus.log").open("wb")
        process = subprocess.Popen(
            [
                executable,
                f"--config.file={directory / 'prometheus.yml'}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=directory,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + startup_timeout
            while not _ready(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    tail = (directory / "prometheus.log").read_text(errors="replace")[-2000:]
                    raise PrometheusError(f"prometheus did not become ready on {url}:\n{tail}")
                time.sleep(0.2)
            yield RunningPrometheus(url, PrometheusAPI(url), directory, process)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/-/ready", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def range_signals(api: PrometheusAPI, queries: Mapping[str, str], start: float, end: float, step: float = 0.5) -> Any:
    """Run each PromQL range query of ``queries`` (column name -> expression) over ``[start, end]``.

    Returns a pandas table with a column ``t`` (seconds from ``start``) and one column per
    query (NaN where a query had no value). Each expression must return one series.
    """
    import pandas as pd

    columns: dict[str, pd.Series] = {}
    for name, expr in queries.items():
        result = api.query_range(expr, start, end, step)
        if len(result) > 1:
            raise PrometheusError(f"{name}: {expr!r} returned {len(result)} series; aggregate it to one")
        series = result[0] if result else {"times": [], "values": []}
        columns[name] = pd.Series(series["values"], index=series["times"], dtype=float)
    table = pd.DataFrame(columns).sort_index()
    table.insert(0, "t", table.index - start)
    return table.reset_index(drop=True)
