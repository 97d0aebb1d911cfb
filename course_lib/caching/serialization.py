"""Turning values into bytes for a cache: JSON, orjson, pickle, and compression above a threshold.

A remote cache stores bytes, so every value is serialised on the way in and parsed on
the way out, on every hit. A :class:`Codec` bundles the two directions:

>>> ORJSON.loads(ORJSON.dumps({"id": 7, "title": "Dune"}))
{'id': 7, 'title': 'Dune'}
>>> codec = compress_above(ORJSON, threshold=64)
>>> small, large = codec.dumps({"n": 1}), codec.dumps({"text": "ab" * 500})
>>> small[:1], large[:1]          # a one-byte header says whether the rest is compressed
(b'\\x00', b'\\x01')
>>> codec.loads(large) == {"text": "ab" * 500}
True

Never give :data:`PICKLE` bytes that someone else could have written: unpickling runs
code chosen by whoever made the bytes (see the warning at the top of the Python
documentation of the ``pickle`` module).
"""

from __future__ import annotations

import json
import pickle
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lz4.block
import orjson

__all__ = ["Codec", "JSON", "ORJSON", "PICKLE", "CODECS", "compress_above"]


@dataclass(frozen=True)
class Codec:
    """A named pair of functions: ``dumps(value) -> bytes`` and ``loads(bytes) -> value``."""

    name: str
    dumps: Callable[[Any], bytes]
    loads: Callable[[bytes], Any]

    def __repr__(self) -> str:
        return f"Codec({self.name!r})"


def _json_dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


JSON = Codec("json", _json_dumps, json.loads)
ORJSON = Codec("orjson", orjson.dumps, orjson.loads)
#: Fast and handles any Python object, but ``loads`` executes code: only for bytes you wrote yourself.
PICKLE = Codec("pickle", lambda value: pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), pickle.loads)
CODECS: dict[str, Codec] = {c.name: c for c in (JSON, ORJSON, PICKLE)}

_RAW, _COMPRESSED = b"\x00", b"\x01"
_ALGORITHMS: dict[str, tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]] = {
    "lz4": (lz4.block.compress, lz4.block.decompress),
    "zlib": (lambda data: zlib.compress(data, 6), zlib.decompress),
}


def compress_above(codec: Codec, threshold: int = 1024, algorithm: str = "lz4") -> Codec:
    """``codec``, with values whose serialised form exceeds ``threshold`` bytes compressed.

    The stored bytes start with one header byte (0: raw, 1: compressed), so small values
    stay cheap and a reader always knows what it got. ``algorithm`` is "lz4" or "zlib".
    """
    if algorithm not in _ALGORITHMS:
        raise ValueError(f"algorithm must be one of {', '.join(_ALGORITHMS)}, got {algorithm!r}")
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0 bytes, got {threshold!r}")
    compress, decompress = _ALGORITHMS[algorithm]

    def dumps(value: Any) -> bytes:
        data = codec.dumps(value)
        return _COMPRESSED + compress(data) if len(data) > threshold else _RAW + data

    def loads(data: bytes) -> Any:
        header, body = data[:1], data[1:]
        if header == _COMPRESSED:
            return codec.loads(decompress(body))
        if header == _RAW:
            return codec.loads(body)
        raise ValueError(f"not written by compress_above: unknown header byte {header!r}")

    return Codec(f"{codec.name}+{algorithm}>{threshold}B", dumps, loads)
