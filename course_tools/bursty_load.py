"""Bursty CPU load: the course's tests run beside it, because a busy machine is the normal machine.

A steady busy loop slows both sides of a timing comparison alike; bursts land on one side. So
each loader here is a separate process that spins for a random 20-400 ms, sleeps for a random
20-400 ms, and again, until it is stopped, its time bound runs out or its parent dies. By
default there is one loader more than there are cores, so every core is sometimes taken.

From Python::

    with bursty_load():
        subprocess.run([...])          # runs with the loaders beside it; they stop at the end

From the shell (exit status: the command's)::

    python -m course_tools.bursty_load -- pytest notebooks/03_database_optimization.ipynb
    python -m course_tools.bursty_load --one-core -- pytest -n 0 notebooks/   # as on Binder: one CPU
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

LOW_MS, HIGH_MS = 20, 400
TIME_BOUND_S = 1800  # no loader outlives this, whatever happens to its parent


def cpus() -> int:
    """The CPUs this process (and what it starts) may run on: its affinity where the OS has one."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_loops() -> int:
    """One loader more than the cores this process may use."""
    return cpus() + 1


def pin_to_one_core() -> None:
    """Restrict this process to the first CPU it may use (Linux); a ``preexec_fn`` for a child."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _loop(seed: int, parent: int, seconds: float, low_ms: float, high_ms: float) -> None:
    """One loader: busy, idle, busy, ... at random intervals, until stopped or orphaned."""
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and os.getppid() == parent:
        busy_until = time.perf_counter() + rng.uniform(low_ms, high_ms) / 1000
        while time.perf_counter() < busy_until:
            pass
        time.sleep(rng.uniform(low_ms, high_ms) / 1000)


@contextlib.contextmanager
def bursty_load(
    loops: int | None = None,
    seconds: float = TIME_BOUND_S,
    low_ms: float = LOW_MS,
    high_ms: float = HIGH_MS,
    seed: int | None = None,
) -> Iterator[list[subprocess.Popen]]:
    """Run ``loops`` bursty loaders (default: cores + 1) for the ``with`` block; always stops them.

    ``seed`` fixes the loaders' on/off pattern (default: a fresh one each time, as real load is).
    """
    loops = default_loops() if loops is None else loops
    seed = random.randrange(2**32) if seed is None else seed
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--loader",
                str(seed + i),
                str(os.getpid()),
                str(seconds),
                str(low_ms),
                str(high_ms),
            ],
            stdin=subprocess.DEVNULL,
        )
        for i in range(loops)
    ]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run_under_load(command: Sequence[str], *, pin_one_core: bool = False, loops: int | None = None, **popen) -> int:
    """Run ``command`` beside bursty load; its exit code. ``popen``: ``cwd``, ``env``, ``stdout``...

    With ``pin_one_core`` the command and its children run on one CPU; the loaders stay free, so
    that CPU is sometimes taken by them.
    """
    preexec = pin_to_one_core if pin_one_core else None
    with bursty_load(loops), subprocess.Popen(list(command), preexec_fn=preexec, **popen) as proc:
        try:
            return proc.wait()
        finally:  # interrupted (Ctrl-C, SIGTERM): the command goes too
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so that ``finally`` blocks (stopping the loaders) run."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--loader"]:
        seed, parent, seconds, low_ms, high_ms = argv[1:6]
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        _loop(int(seed), int(parent), float(seconds), float(low_ms), float(high_ms))
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], usage="%(prog)s [--loops N] [--one-core] -- COMMAND ..."
    )
    parser.add_argument("--loops", type=int, default=None, help="number of loaders (default: cores + 1)")
    parser.add_argument("--one-core", action="store_true", help="pin COMMAND (not the loaders) to one CPU")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    exit_on_sigterm()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("name the command to run, after --")
    return run_under_load(command, pin_one_core=args.one_core, loops=args.loops)


if __name__ == "__main__":
    sys.exit(main())
