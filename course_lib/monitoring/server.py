"""Serve an ASGI app with uvicorn on 127.0.0.1 in a background thread, as a context manager.

A notebook's kernel already runs an event loop, so ``uvicorn.run()`` inside it would block
the kernel (or fail). :func:`serve_in_thread` runs uvicorn's own event loop in a daemon
thread, waits until the server accepts connections, and on exit (also when the body
raises) asks it to stop, waits for it, and forces it if it does not stop in time::

    >>> from fastapi import FastAPI
    >>> import httpx
    >>> app = FastAPI()
    >>> @app.get("/ping")
    ... def ping():
    ...     return {"pong": True}
    >>> with serve_in_thread(app) as server:
    ...     httpx.get(server.url + "/ping").json()
    {'pong': True}

The socket is bound by this module before uvicorn starts (port 0 asks the operating system
for a free port), so there is no race between choosing a port and using it. Only
loopback addresses are accepted.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["RunningServer", "serve_in_thread", "free_port"]


@dataclass(frozen=True)
class RunningServer:
    """Where a server started by :func:`serve_in_thread` listens."""

    host: str
    port: int
    thread: threading.Thread

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"


def _check_loopback(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ValueError(
            f"host must be a loopback address such as 127.0.0.1, got {host!r}: "
            "the course never serves on a network interface"
        )


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free on ``host`` a moment ago (for configuration files; may race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextmanager
def serve_in_thread(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 10.0,
    shutdown_timeout: float = 5.0,
    log_level: str = "warning",
    **config: Any,
) -> Iterator[RunningServer]:
    """Run ``app`` with uvicorn in a background thread while the ``with`` block runs.

    ``port=0`` (the default) picks a free port; pass a port to use that one (an error says
    so if it is taken). Extra keyword arguments go to ``uvicorn.Config`` (e.g.
    ``access_log=False``). Raises ``RuntimeError`` if the server does not start within
    ``startup_timeout`` seconds.
    """
    import uvicorn

    _check_loopback(host)
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says it is TCP; without it Nagle's algorithm adds ~40 ms to responses.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise RuntimeError(
            f"cannot listen on {host}:{port} ({error}); is another server using that port? "
            "Stop it, or pass port=0 for a free port"
        ) from error
    config.setdefault("access_log", False)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="auto", **config))
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as error:  # SystemExit from a failed startup included
            failure.append(error)

    thread = threading.Thread(target=run, name=f"uvicorn-{sock.getsockname()[1]}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the server stopped during startup: {failure[0] if failure else 'no error given'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start within {startup_timeout} s")
            time.sleep(0.01)
        yield RunningServer(host, sock.getsockname()[1], thread)
    finally:
        server.should_exit = True
        thread.join(shutdown_timeout)
        if thread.is_alive():  # connections that do not close: stop waiting for them
            server.force_exit = True
            thread.join(shutdown_timeout)
        sock.close()
        if thread.is_alive():
            raise RuntimeError(f"the server thread {thread.name} did not stop within {2 * shutdown_timeout} s")
