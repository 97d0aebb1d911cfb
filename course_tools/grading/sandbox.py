"""Run one submission's kernel inside a bubblewrap (``bwrap``) sandbox.

The grader (pytest and nbval, the assembled notebook with its hidden tests, the results) stays
outside; only the kernel, and everything the student's code starts, runs inside. The sandbox
sees a read-only system (``/usr``, ``/lib*``, ``/bin``, ``/etc`` minus what only root may read),
the read-only Python environment, the installed ``course_lib`` folder and nothing else of the
course: no solutions, rubrics, other submissions or grading output. Its working folder, ``/tmp``
and ``$HOME`` are a private tmpfs; the only host folder it sees is its own kernel folder (the
connection file and the ZeroMQ ``ipc`` sockets the grader talks to it through), made read-only
once the kernel is up. It has its own network namespace (only its own loopback, so an exercise
may still serve on 127.0.0.1 inside) and its own PID namespace: when the grader kills ``bwrap``,
the Linux kernel ends every process left in it.

Why bubblewrap: it is the unprivileged sandbox Flatpak uses, packaged by every distribution
(Debian: ``bubblewrap``), needs no daemon and no root, and builds the namespaces in one
``exec``, which costs milliseconds per submission; a Docker container per submission would
need a daemon the course's machines (Binder, CI, many laptops) do not have.

``COURSE_GRADE_SANDBOX`` chooses: ``auto`` (default) uses ``bwrap`` when it is on PATH and
works here, else grades as before and says so once; ``off`` never sandboxes; ``required``
refuses to grade without a sandbox.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "COURSE_GRADE_SANDBOX"
MODES = ("off", "auto", "required")
HOME = "/tmp/home"
WORK = "/tmp/work"  # the kernel's working folder, inside the sandbox
NO_BWRAP = "bwrap is not available (apt-get install bubblewrap)"

log = logging.getLogger("course_tools.grading")
_told: set[str] = set()
_told_lock = threading.Lock()


class SandboxUnavailable(RuntimeError):
    """``COURSE_GRADE_SANDBOX=required``, but no sandbox can be had here."""


def mode(environ: Mapping[str, str] | None = None) -> str:
    """The sandbox mode from ``COURSE_GRADE_SANDBOX``: off, auto (default) or required."""
    value = (os.environ if environ is None else environ).get(ENV_VAR, "").strip().lower() or "auto"
    if value not in MODES:
        raise SandboxUnavailable(f"{ENV_VAR}={value!r} is not one of {', '.join(MODES)}")
    return value


def _system_binds() -> list[str]:
    """Read-only ``/usr``, ``/etc``, ``/bin``, ``/sbin``, ``/lib*`` (symlinks kept as symlinks)."""
    args = ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/", name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return args + _masks("/etc")


def _masks(top: str) -> list[str]:
    """Hide what under ``top`` other users may not read (``/etc/shadow``, private keys): the
    sandbox runs as the grader's uid, root here, which owns those files."""
    args: list[str] = []
    for folder, dirs, files in os.walk(top):
        for name in list(dirs):
            path = os.path.join(folder, name)
            if not os.path.islink(path) and os.stat(path).st_mode & 0o005 != 0o005:
                args += ["--tmpfs", path]
                dirs.remove(name)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path) and os.stat(path).st_mode & 0o004 == 0:
                args += ["--ro-bind", "/dev/null", path]
    return args


@functools.cache
def _python_binds() -> tuple[str, ...]:
    """The Python environment and the installed ``course_lib`` folder (not the repository).

    Worked out once per process, like :func:`_base_options`: neither changes between submissions."""
    paths = dict.fromkeys(os.path.realpath(p) for p in (sys.prefix, sys.base_prefix))
    spec = importlib.util.find_spec("course_lib")  # found, not imported: the grader needs none of it
    if spec is not None and spec.origin:
        paths[os.path.dirname(os.path.realpath(spec.origin))] = None
    args: list[str] = []
    for path in paths:
        args += ["--ro-bind", path, path]
    return tuple(args)


@functools.cache
def _base_options() -> tuple[str, ...]:
    """The options every run shares; once per process (walking ``/etc`` for masks takes a while)."""
    return (
        "--unshare-all",  # pid, net, ipc, uts, cgroup namespaces: net has only its own loopback
        "--unshare-user",  # also for root, which --unshare-all alone leaves in the host's
        "--disable-userns",  # no nested user namespace to regain capabilities in
        "--cap-drop",
        "ALL",  # bwrap run by root keeps every capability unless told otherwise
        "--die-with-parent",  # the sandbox dies with bwrap and with the grader
        "--new-session",  # no TIOCSTI into the grader's terminal
        "--proc",
        "/proc",  # this PID namespace's processes only
        "--dev",
        "/dev",  # null, zero, random, urandom, tty, shm: no host devices
        "--tmpfs",
        "/tmp",
        "--dir",
        HOME,
        "--dir",
        WORK,
        *_system_binds(),
    )


@functools.cache
def _probe(bwrap: str) -> str | None:
    """Why ``bwrap`` cannot sandbox here, or ``None`` when it can (tried once per process)."""
    try:
        done = subprocess.run(
            [bwrap, *_base_options(), "true"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap could not be run ({error})"
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        return f"bwrap cannot make a sandbox here ({reason[0]})"
    return None


def say_once(message: str) -> None:
    with _told_lock:
        if message in _told:
            return
        _told.add(message)
    log.warning(message)


@dataclass(frozen=True)
class Sandbox:
    """A working ``bwrap``: wraps one kernel's command so it sees only its own kernel folder."""

    bwrap: str

    def command(self, command: list[str], folder: Path, run_env: Mapping[str, str]) -> list[str]:
        """``command`` in the sandbox, with ``folder`` (the kernel's) as its only host folder."""
        folder = os.path.realpath(folder)
        env = {
            "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": HOME,
            "LANG": "C.UTF-8",
            "TMPDIR": "/tmp",
            # IPython's profile, matplotlib's cache, Jupyter's folders: all in the sandbox's tmpfs.
            "JUPYTER_RUNTIME_DIR": f"{HOME}/.local/share/jupyter/runtime",
            "JUPYTER_DATA_DIR": f"{HOME}/.local/share/jupyter",
            "JUPYTER_CONFIG_DIR": f"{HOME}/.jupyter",
            "IPYTHONDIR": f"{HOME}/.ipython",
            "MPLCONFIGDIR": f"{HOME}/.config/matplotlib",
            "XDG_CACHE_HOME": f"{HOME}/.cache",
            **run_env,
        }
        argv = [self.bwrap, *_base_options(), *_python_binds(), "--bind", folder, folder, "--chdir", WORK, "--clearenv"]
        for name, value in env.items():
            argv += ["--setenv", name, value]
        return [*argv, "--", *command]


def sandbox_for_run(environ: Mapping[str, str] | None = None) -> Sandbox | None:
    """The sandbox to grade in, or ``None`` to grade without one (said once per process).

    Raises :class:`SandboxUnavailable` when ``COURSE_GRADE_SANDBOX=required`` and there is none.
    """
    chosen = mode(environ)
    if chosen == "off":
        say_once(f"grading without a sandbox: {ENV_VAR}=off; submissions can read files the grader can read")
        return None
    bwrap = shutil.which("bwrap")
    problem = NO_BWRAP if bwrap is None else _probe(bwrap)
    if problem is None and bwrap is not None:
        return Sandbox(bwrap)
    if chosen == "required":
        raise SandboxUnavailable(f"{ENV_VAR}=required, but {problem}")
    say_once(f"grading without a sandbox: {problem}; submissions can read files the grader can read")
    return None
