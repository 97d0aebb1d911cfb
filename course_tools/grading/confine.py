"""Limits for everything one submission starts, together: memory, processes, file sizes.

A per-process cap (``RLIMIT_AS``) alone lets a submission use many times its memory through
children, and a fork bomb is not bounded at all. Where the grader may create control groups
(cgroup v1 ``memory`` and ``pids`` hierarchies, as on this course's CI machines, or a cgroup v2
tree with both controllers enabled), each kernel gets its own group: ``memory_mb`` for the
whole submission (its tmpfs files included) and ``processes`` tasks at most. Everywhere, each
process also gets ``RLIMIT_AS`` (``memory_mb``), ``RLIMIT_FSIZE`` (``file_mb``) and no core
files. Without control groups the whole-submission limits are missing; the grader says so once.
``COURSE_GRADE_CGROUPS=off`` grades without them on purpose.

The kernel's command is prefixed with a tiny launcher (``python -I -S -c ...``) that joins the
groups and sets the limits, then ``exec``s the sandbox: every process started after it is inside.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass
from itertools import count
from pathlib import Path

PREFIX = "course-grade-"
#: Joins the control groups named in argv[1], sets the rlimits, then execs argv[3:] (argv[2] is "--").
_ENTER = """\
import json, os, resource, sys
spec = json.loads(sys.argv[1])
for path in spec["procs"]:
    with open(path, "w") as f:
        f.write(str(os.getpid()))
for name, value in spec["rlimits"].items():
    resource.setrlimit(getattr(resource, name), (value, value))
os.execvp(sys.argv[3], sys.argv[3:])
"""
_numbers = count()
_numbers_lock = threading.Lock()


@dataclass(frozen=True)
class Hierarchy:
    """Where to make groups: ``kind`` is ``memory``, ``pids`` (cgroup v1) or ``unified`` (v2)."""

    kind: str
    parent: Path  # the grader's own group in that hierarchy, where submissions' groups go


def _hierarchies() -> list[Hierarchy]:
    """The grader's own group in each hierarchy that can hold per-submission limits."""
    own = {}  # controller (or "" for v2) -> the grader's group path, from /proc/self/cgroup
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            own[name] = path
    found = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        root, mount_point = fields[3], fields[4]
        fstype, options = fields[-3], fields[-1].split(",")
        for kind, key in (("memory", "memory"), ("pids", "pids"), ("unified", "")):
            wanted = fstype == "cgroup2" if kind == "unified" else (fstype == "cgroup" and kind in options)
            if wanted and key in own and kind not in found:
                relative = os.path.relpath(own[key], root) if own[key] != root else "."
                found[kind] = Hierarchy(kind, Path(mount_point, relative).resolve())
    if "memory" in found and "pids" in found:
        return [found["memory"], found["pids"]]
    if "unified" in found:
        controllers = (found["unified"].parent / "cgroup.subtree_control").read_text().split()
        if {"memory", "pids"} <= set(controllers):
            return [found["unified"]]
    return []


_usable: list[Hierarchy] | None = None
_usable_lock = threading.Lock()


def usable_hierarchies() -> tuple[list[Hierarchy], str | None]:
    """The hierarchies the grader can make groups in, and why none if so (tried once per process)."""
    global _usable
    if os.environ.get("COURSE_GRADE_CGROUPS", "").strip().lower() == "off":
        return [], "COURSE_GRADE_CGROUPS=off"
    with _usable_lock:
        if _usable is None:
            try:
                found = _hierarchies()
                for hierarchy in found:  # can we really make and remove a group there?
                    probe = hierarchy.parent / f"{PREFIX}{os.getpid()}-probe"
                    probe.mkdir(exist_ok=True)
                    probe.rmdir()
                _usable = found
            except OSError:
                _usable = []
        reason = None if _usable else "no writable cgroup memory and pids controllers (run as root, or delegate them)"
        return _usable, reason


def sweep_stale_groups() -> None:
    """Remove the empty groups a killed grader left behind (their name holds its pid)."""
    for hierarchy in usable_hierarchies()[0]:
        for group in hierarchy.parent.glob(f"{PREFIX}*"):
            pid = group.name.removeprefix(PREFIX).split("-")[0]
            if pid.isdigit() and not Path("/proc", pid).exists():
                try:
                    group.rmdir()
                except OSError:
                    pass


class Confinement:
    """The limits of one submission: its control groups (if any) and its rlimits."""

    def __init__(self, memory_mb: int, processes: int, file_mb: int):
        self.groups: list[Path] = []
        hierarchies, self.missing = usable_hierarchies()
        with _numbers_lock:
            name = f"{PREFIX}{os.getpid()}-{next(_numbers)}"
        memory = str(memory_mb * 2**20)
        try:
            for hierarchy in hierarchies:
                group = hierarchy.parent / name
                group.mkdir()
                self.groups.append(group)
                if hierarchy.kind == "memory":
                    (group / "memory.limit_in_bytes").write_text(memory)
                    swap = group / "memory.memsw.limit_in_bytes"
                    if swap.exists():
                        swap.write_text(memory)
                elif hierarchy.kind == "pids":
                    (group / "pids.max").write_text(str(processes))
                else:
                    (group / "memory.max").write_text(memory)
                    (group / "memory.swap.max").write_text("0")
                    (group / "pids.max").write_text(str(processes))
        except OSError as error:
            self.remove()
            self.missing = f"a control group could not be set up ({error})"
        rlimits = {
            "RLIMIT_AS": memory_mb * 2**20,
            "RLIMIT_FSIZE": file_mb * 2**20,
            "RLIMIT_CORE": 0,
        }
        self.spec = {"procs": [str(group / "cgroup.procs") for group in self.groups], "rlimits": rlimits}

    def prefix(self) -> list[str]:
        """Put this in front of a command to run it (and all it starts) inside these limits."""
        return [sys.executable, "-I", "-S", "-c", _ENTER, json.dumps(self.spec), "--"]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for group in self.groups:
            try:
                found |= {int(pid) for pid in (group / "cgroup.procs").read_text().split()}
            except OSError:
                pass
        return found

    def kill(self, timeout: float = 5.0) -> None:
        """SIGKILL every process in the groups, until they are empty (a fork between reads is caught)."""
        deadline = time.monotonic() + timeout
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)

    def remove(self) -> None:
        """Kill what is left and delete the groups."""
        self.kill()
        for group in self.groups:
            for _ in range(50):  # a group is removable once its last task is reaped
                try:
                    group.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
        self.groups = []


def remove_tree(path: Path) -> None:
    """Delete ``path`` even where a sandboxed kernel's folder was made read-only."""
    if path.exists():
        for folder, _, _ in os.walk(path):
            os.chmod(folder, 0o700)
        shutil.rmtree(path, ignore_errors=True)
