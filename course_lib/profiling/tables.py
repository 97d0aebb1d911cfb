"""Profiles as pandas tables: cProfile/pstats, py-spy's collapsed stacks and pyinstrument sessions."""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["profile_call", "stats_to_frame", "call_edges", "collapsed_to_frame", "pyinstrument_to_frame"]


def profile_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, pstats.Stats]:
    """Run ``fn(*args, **kwargs)`` under cProfile; return its result and the ``pstats.Stats``."""
    profiler = cProfile.Profile()
    try:
        result = profiler.runcall(fn, *args, **kwargs)
    finally:
        profiler.disable()
    return result, pstats.Stats(profiler)


def _as_stats(stats: pstats.Stats | cProfile.Profile) -> pstats.Stats:
    if isinstance(stats, cProfile.Profile):
        return pstats.Stats(stats)
    if isinstance(stats, pstats.Stats):
        return stats
    raise TypeError(f"expected a pstats.Stats or a cProfile.Profile, got {type(stats).__name__}")


def _where(filename: str, lineno: int) -> str:
    return "built-in" if filename == "~" else f"{Path(filename).name}:{lineno}"


def stats_to_frame(stats: pstats.Stats | cProfile.Profile) -> pd.DataFrame:
    """One row per function of a profile, sorted by own time (``tottime``), largest first.

    Columns: ``function`` (its name), ``location`` (``file.py:line``, or ``built-in``),
    ``ncalls`` (all calls), ``primitive_calls`` (calls not made recursively),
    ``tottime`` (seconds in the function itself), ``cumtime`` (seconds including what it
    called), ``tottime_per_call`` and ``cumtime_per_call``, and ``filename``.
    """
    raw = _as_stats(stats).stats  # {(file, line, name): (primitive, total, tottime, cumtime, callers)}
    rows = [
        {
            "function": name,
            "location": _where(filename, lineno),
            "ncalls": total,
            "primitive_calls": primitive,
            "tottime": tottime,
            "cumtime": cumtime,
            "filename": filename,
        }
        for (filename, lineno, name), (primitive, total, tottime, cumtime, _) in raw.items()
    ]
    frame = pd.DataFrame(
        rows, columns=["function", "location", "ncalls", "primitive_calls", "tottime", "cumtime", "filename"]
    )
    frame.insert(5, "tottime_per_call", frame["tottime"] / frame["ncalls"].clip(lower=1))
    frame.insert(7, "cumtime_per_call", frame["cumtime"] / frame["primitive_calls"].clip(lower=1))
    return frame.sort_values("tottime", ascending=False, ignore_index=True)


def call_edges(stats: pstats.Stats | cProfile.Profile) -> pd.DataFrame:
    """The call graph: one row per (caller, callee) pair, with the calls and time along that edge.

    Columns: ``caller``, ``callee``, ``ncalls``, ``tottime`` and ``cumtime`` (seconds spent
    in the callee when called from this caller). Sorted by ``cumtime``, largest first.
    """
    raw = _as_stats(stats).stats
    rows = []
    for (_, _, callee), (*_, callers) in raw.items():
        for (_, _, caller), edge in callers.items():
            _, total, tottime, cumtime = edge
            rows.append({"caller": caller, "callee": callee, "ncalls": total, "tottime": tottime, "cumtime": cumtime})
    frame = pd.DataFrame(rows, columns=["caller", "callee", "ncalls", "tottime", "cumtime"])
    return frame.sort_values("cumtime", ascending=False, ignore_index=True)


def collapsed_to_frame(text: str) -> pd.DataFrame:
    """Samples per function from collapsed stacks (``py-spy record --format raw``, flamegraph input).

    Each input line is ``outer;...;inner count``, each frame ``name (file:line)``. Returns one
    row per function name: ``self`` (samples where it was running: the innermost frame),
    ``total`` (samples where it was anywhere on the stack) and both as shares of all
    samples. Sorted by ``self``, largest first.
    """
    own: dict[str, int] = {}
    anywhere: dict[str, int] = {}
    n_samples = 0
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        n_samples += n
        names = [frame.split(" (", 1)[0] for frame in stack.split(";")]
        own[names[-1]] = own.get(names[-1], 0) + n
        for name in set(names):
            anywhere[name] = anywhere.get(name, 0) + n
    frame = pd.DataFrame({"self": pd.Series(own, dtype=int), "total": pd.Series(anywhere, dtype=int)}).fillna(0)
    frame = frame.astype(int).rename_axis("function")
    frame["self_share"] = frame["self"] / max(n_samples, 1)
    frame["total_share"] = frame["total"] / max(n_samples, 1)
    return frame.sort_values(["self", "total"], ascending=False)


def pyinstrument_to_frame(session: Any) -> pd.DataFrame:
    """Own (self) time per function of a pyinstrument session (``profiler.last_session``).

    Returns one row per function name: ``self`` (seconds in which the samples found it
    running) and ``self_share`` (of all sampled time), sorted largest first.
    """
    own: dict[str, float] = {}
    stack = [session.root_frame()] if session.root_frame() is not None else []
    while stack:
        frame = stack.pop()
        stack.extend(frame.children)
        if not frame.is_synthetic:  # "[self]" and similar frames belong to their parent
            own[frame.function] = own.get(frame.function, 0.0) + frame.total_self_time
    table = pd.DataFrame({"self": pd.Series(own, dtype=float)}).rename_axis("function")
    table["self_share"] = table["self"] / max(table["self"].sum(), 1e-12)
    return table.sort_values("self", ascending=False)
