"""Measuring the student's code alone: :func:`call_alone` runs it in a forked copy of the kernel.

A check that measures memory calls the student's code through :func:`call_alone`, so that
what it measures is that code and not the kernel's other threads.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import signal
import sys
import warnings
from collections.abc import Callable
from typing import Any

from course_lib.checks.core import _describe, _error_summary, _name

__all__ = ["call_alone"]


def call_alone(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``func(*args, **kwargs)``, called in a copy of this process in which no other thread runs.

    A Jupyter kernel runs threads beside the code in a cell (they send output, answer the
    heartbeat, save the history) and they allocate memory at moments nobody controls, more
    so on a busy machine. ``tracemalloc`` sees every thread, so a check that measures the
    memory of a student's code calls it here: in a child made with ``os.fork``, only the
    calling thread exists, and what ``tracemalloc`` records is that code's work alone.

    The result travels back pickled, so it must be plain data; what ``func`` prints is
    printed here afterwards; an exception it raises is raised here (the same type, when it
    can be pickled; otherwise a ``RuntimeError`` naming it). The child shares nothing with
    this process after the call: changes ``func`` makes to objects stay in the child. Where
    ``fork`` is not a safe choice (not Linux), ``func`` simply runs here.

    >>> import threading
    >>> call_alone(lambda: threading.active_count())
    1
    """
    if not sys.platform.startswith("linux"):
        return func(*args, **kwargs)
    for stream in (sys.stdout, sys.stderr):  # or the child would send what is buffered a second time
        with contextlib.suppress(Exception):
            stream.flush()
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():  # Python 3.12+ warns about fork beside threads: the child here
        warnings.simplefilter("ignore", DeprecationWarning)  # only runs func and never uses them
        pid = os.fork()
    if pid == 0:  # the child: run, send the outcome, and leave without running any exit handler
        try:
            os.close(read_end)
            printed = io.StringIO()
            try:
                with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                    outcome: tuple[str, Any] = ("returned", func(*args, **kwargs))
            except BaseException as error:  # noqa: BLE001 - sent to the parent, which raises it
                with contextlib.suppress(Exception):  # the traceback stays here: keep its last line
                    error.add_note(f"(in call_alone: {_error_summary(error)})")
                outcome = ("raised", error)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(_pack(outcome, printed.getvalue()))
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as pipe:
            payload = pipe.read()
    finally:  # also when this process is interrupted (a cell timeout): the child goes too
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    if not payload:
        raise RuntimeError(f"{_name(func)} ended its process without an answer (did it call os._exit or crash?)")
    (kind, value), printed = pickle.loads(payload)
    if printed:
        print(printed, end="" if printed.endswith("\n") else "\n")
    if kind == "raised":
        raise value
    if kind == "unpicklable":
        raise RuntimeError(value)
    return value


def _pack(outcome: tuple[str, Any], printed: str) -> bytes:
    """The child's outcome, pickled; what cannot travel is described in words instead."""
    try:
        payload = pickle.dumps((outcome, printed))
        pickle.loads(payload)  # some objects pickle but cannot be rebuilt (an exception with odd arguments)
        return payload
    except Exception:  # noqa: BLE001 - any object may refuse to be pickled
        kind, value = outcome
        if kind == "raised":
            what = _error_summary(value)
            return pickle.dumps((("raised", RuntimeError(what)), printed))
        return pickle.dumps(
            (
                (
                    "unpicklable",
                    f"the call returned {_describe(value)}, which cannot be sent back "
                    f"({type(value).__name__}); return plain data",
                ),
                printed,
            )
        )
