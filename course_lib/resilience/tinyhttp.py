"""A tiny HTTP/1.1 server in a subprocess on 127.0.0.1 that counts the connections it accepts.

For measuring what connection reuse buys a client: the server answers every ``GET`` with a
two-byte body and keeps connections open (HTTP/1.1 keep-alive) unless the client closes them;
``GET /stats`` answers ``{"connections": N, "requests": M}``, counting every other request
(:func:`server_stats` asks for it). It is the standard library's
``http.server`` (one thread per connection), started as a separate process so that it does not
share the notebook's interpreter lock with the client being measured.

>>> import urllib.request
>>> with tiny_server() as url:
...     body = urllib.request.urlopen(url + "/hello", timeout=10).read()
...     stats = server_stats(url)
>>> body, stats
(b'ok', {'connections': 1, 'requests': 1})

The server stops when the ``with`` block ends, also on error; if the parent dies first, the
server notices that its standard input closed and stops by itself. This file imports only the
standard library, so the subprocess starts quickly.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["server_stats", "tiny_server"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep connections open between requests
    # TCP_NODELAY. Without it, the body (a second small write after the headers) waits on a
    # kept-alive connection for the client's delayed ACK of the headers: Nagle's algorithm
    # (RFC 896) meeting delayed acknowledgements (RFC 1122, 4.2.3.2), a classic keep-alive trap.
    disable_nagle_algorithm = True

    counted = False  # whether this connection (one handler per connection) has been counted

    def do_GET(self) -> None:  # noqa: N802 - the http.server naming convention
        server = self.server
        with server.lock:  # type: ignore[attr-defined]
            if self.path != "/stats":  # the statistics request does not count itself
                server.requests += 1  # type: ignore[attr-defined]
                server.connections += not self.counted  # type: ignore[attr-defined]
                self.counted = True
            stats = {"connections": server.connections, "requests": server.requests}  # type: ignore[attr-defined]
        body = json.dumps(stats).encode() if self.path == "/stats" else b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


def _serve() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.lock, server.connections, server.requests = threading.Lock(), 0, 0  # type: ignore[attr-defined]
    threading.Thread(target=lambda: (sys.stdin.read(), server.shutdown()), daemon=True).start()
    print(server.server_address[1], flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()


def server_stats(url: str) -> dict[str, int]:
    """The server's counts so far: ``{"connections": N, "requests": M}`` (not counting this request)."""
    import urllib.request

    with urllib.request.urlopen(url + "/stats", timeout=30) as response:
        return json.load(response)


@contextlib.contextmanager
def tiny_server(startup_timeout: float = 20.0) -> Iterator[str]:
    """Start the server in a subprocess; yield its base URL (``http://127.0.0.1:PORT``); stop it."""
    process = subprocess.Popen(
        [sys.executable, __file__],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        timer = threading.Timer(startup_timeout, process.kill)  # a server that never says its port
        timer.start()
        try:
            port = process.stdout.readline().strip()
        finally:
            timer.cancel()
        if not port.isdigit():
            raise RuntimeError(f"the tiny server did not start: {process.stderr.read()[-2000:]!r}")
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(OSError):
            process.stdin.close()  # the server's signal to stop
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


if __name__ == "__main__":
    _serve()
