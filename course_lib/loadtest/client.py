"""A minimal asyncio HTTP/1.1 client for the load generator: GET only, keep-alive, a few lines.

Why not httpx? A load generator must cost little per request and nothing that grows with the
number of open connections, or its own delays end up in the latencies it reports. This client
keeps idle connections in a list, opens a new one when none is idle (up to ``max_connections``;
beyond that requests wait for one), and reads responses framed by ``Content-Length``, which
is what uvicorn sends for fixed bodies. It is not a general HTTP client (no chunked bodies,
no TLS, no redirects): it is a measuring instrument for servers on this machine.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

__all__ = ["HttpClient"]


class HttpClient:
    """``await client.get(path)`` returns the HTTP status; use ``async with HttpClient(url)``."""

    def __init__(self, url: str, *, max_connections: int = 1000, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(max_connections)
        self._open: set[asyncio.StreamWriter] = set()

    async def get(self, path: str) -> int:
        """Send ``GET path`` and read the whole answer; raises ``OSError`` or ``TimeoutError``."""
        async with self._slots:
            reader, writer = self._idle.pop() if self._idle else await self._connect()
            try:
                async with asyncio.timeout(self.timeout):
                    writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
                    head = await reader.readuntil(b"\r\n\r\n")
                    status, length, keep = _parse_head(head)
                    await reader.readexactly(length)
            except BaseException:
                self._close(writer)
                raise
            if keep:
                self._idle.append((reader, writer))
            else:
                self._close(writer)
            return status

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with asyncio.timeout(self.timeout):
            reader, writer = await asyncio.open_connection(self.host, self.port)
        self._open.add(writer)
        return reader, writer

    def _close(self, writer: asyncio.StreamWriter) -> None:
        self._open.discard(writer)
        writer.close()

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for writer in list(self._open):
            self._close(writer)
        self._idle.clear()


def _parse_head(head: bytes) -> tuple[int, int, bool]:
    """Status, Content-Length and keep-alive from a response head.

    >>> _parse_head(b"HTTP/1.1 200 OK\\r\\ncontent-length: 2\\r\\n\\r\\n")
    (200, 2, True)
    """
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip().lower()
    if "content-length" not in fields:
        raise OSError("the response has no Content-Length (chunked?); this client reads only fixed-length bodies")
    return status, int(fields["content-length"]), fields.get("connection") != "close"
