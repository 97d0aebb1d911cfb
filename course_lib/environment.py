"""What machine the measurements come from, and whether it is ready for the course.

Every figure the course shows was measured on *your* machine, so lessons print a one-line
description of it next to their results:

>>> print(machine_summary())    # on the machine the course was written on
Python 3.11... on Linux x86_64, ... cores, ... GiB RAM

``environment_report()`` collects the details (Python, CPU, memory, package versions,
backends) and ``check_environment()`` turns them into a list of problems in plain words.

Inside a container (Binder, Docker, CI) ``os.cpu_count()`` and the total memory describe
the host, not what you may use. The report therefore also reads the container's limits
(Linux cgroups) and the summary shows the smaller of the two.
"""

from __future__ import annotations

import math
import os
import platform
import re
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pandas as pd
import psutil

from course_lib.backends import BackendInfo, describe_backends

#: The installed name of this course (the package you import is ``course_lib``).
COURSE_DISTRIBUTION = "perf-course"

#: Packages whose versions the report shows, by their installed (distribution) names.
KEY_PACKAGES: tuple[str, ...] = (
    "jupyterlab",
    "ipykernel",
    "nbval",
    "numpy",
    "pandas",
    "matplotlib",
    "line_profiler",
    "sqlalchemy",
    "psycopg",
    "redis",
    "fakeredis",
    COURSE_DISTRIBUTION,
)

NOT_INSTALLED = "not installed"
MIN_PYTHON: tuple[int, int] = (3, 11)
#: Below this much available memory, a notebook may not fit its budget (COURSE.md: 1 GB).
MIN_AVAILABLE_MEMORY = 1 << 30

GIB = 1 << 30


@dataclass(frozen=True)
class EnvironmentReport:
    """The facts ``environment_report()`` collects. Sizes are in bytes."""

    python_version: str
    python_implementation: str
    system: str  #: "Linux", "Darwin", "Windows"
    machine: str  #: "x86_64", "arm64", ...
    platform: str  #: the long form, with kernel and libc versions
    cpu_logical: int | None  #: logical CPUs the operating system sees
    cpu_affinity: int | None  #: CPUs this process may run on (None where the OS cannot tell)
    cpu_quota: float | None  #: a container's CPU-time limit in cores (None: no limit)
    memory_total: int
    memory_available: int
    memory_limit: int | None  #: a container's memory limit (None: no limit)
    packages: dict[str, str] = field(default_factory=dict)  #: name -> version or "not installed"
    backends: list[BackendInfo] = field(default_factory=list)

    @property
    def cores(self) -> int | None:
        """The cores you can use: affinity, then rounded down by a container quota (at least 1)."""
        usable = self.cpu_affinity or self.cpu_logical
        if self.cpu_quota is not None:
            usable = min(usable or math.inf, max(1, math.floor(self.cpu_quota)))
        return usable

    @property
    def memory(self) -> int:
        """The memory you can use in all: the total, or a container's smaller limit."""
        return min(self.memory_total, self.memory_limit or self.memory_total)

    def machine_table(self) -> pd.DataFrame:
        """Python, platform, CPU and memory as a two-column table (item, value)."""
        rows = {
            "Python": f"{self.python_version} ({self.python_implementation})",
            "platform": self.platform,
            "logical CPUs": _or_unknown(self.cpu_logical),
            "CPUs this process may use": _or_unknown(self.cpu_affinity),
            "container CPU quota (cores)": "none" if self.cpu_quota is None else f"{self.cpu_quota:g}",
            "total memory": f"{self.memory_total / GIB:.1f} GiB",
            "available memory": f"{self.memory_available / GIB:.1f} GiB",
            "container memory limit": "none" if self.memory_limit is None else f"{self.memory_limit / GIB:.1f} GiB",
        }
        return pd.DataFrame({"item": list(rows), "value": [str(v) for v in rows.values()]})

    def package_table(self) -> pd.DataFrame:
        """One row per key package: name and version (or "not installed")."""
        names = [f"{n} (course_lib)" if n == COURSE_DISTRIBUTION else n for n in self.packages]
        return pd.DataFrame({"package": names, "version": list(self.packages.values())})

    def backend_table(self) -> pd.DataFrame:
        """One row per service: embedded or real, its variable, masked URL, status."""
        return pd.DataFrame(
            {
                "service": [b.name for b in self.backends],
                "kind": [b.kind for b in self.backends],
                "variable": [b.env_var for b in self.backends],
                "url": [b.url for b in self.backends],
                "status": [_status(b) for b in self.backends],
                "error": [b.error for b in self.backends],
            }
        )


def _or_unknown(value: object) -> object:
    return "unknown" if value is None else value


def _status(backend: BackendInfo) -> str:
    if backend.ok is None:
        return "not checked"
    return "ok" if backend.ok else "NOT ANSWERING"


def package_version(name: str) -> str:
    """The installed version of distribution ``name``, or "not installed"."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return NOT_INSTALLED


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _cgroup_dirs(root: Path, controller: str, proc_cgroup: Path) -> list[Path]:
    """Where this process's cgroup files may be: its own cgroup first, then the mount root."""
    dirs = []
    for line in (_read(proc_cgroup) or "").splitlines():
        _, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if controllers == "" or controller in controllers.split(","):
            base = root if controllers == "" else root / controller
            dirs.append(base / path.lstrip("/"))
    return [*dirs, root, root / controller]


def cgroup_limits(
    root: Path = Path("/sys/fs/cgroup"), proc_cgroup: Path = Path("/proc/self/cgroup")
) -> tuple[float | None, int | None]:
    """The container's (CPU quota in cores, memory limit in bytes); None where unlimited.

    Reads cgroup v2 (``cpu.max``, ``memory.max``) or v1 (``cpu.cfs_quota_us`` and
    ``cpu.cfs_period_us``, ``memory.limit_in_bytes``). Returns (None, None) off Linux.
    """
    try:
        return _cgroup_cpu(root, proc_cgroup), _cgroup_memory(root, proc_cgroup)
    except ValueError:  # a file we do not understand: better no limit than a crash
        return None, None


def _cgroup_cpu(root: Path, proc_cgroup: Path) -> float | None:
    for directory in _cgroup_dirs(root, "cpu", proc_cgroup):
        v2, quota, period = (_read(directory / f) for f in ("cpu.max", "cpu.cfs_quota_us", "cpu.cfs_period_us"))
        if v2:
            quota, _, period = v2.partition(" ")
        if quota and period and quota not in ("max", "-1"):
            return int(quota) / int(period)
        if quota:  # found the file, and it says "no limit"
            return None
    return None


def _cgroup_memory(root: Path, proc_cgroup: Path) -> int | None:
    for directory in _cgroup_dirs(root, "memory", proc_cgroup):
        value = _read(directory / "memory.max") or _read(directory / "memory.limit_in_bytes")
        if value:
            # "max" (v2) or, in v1, a huge number above physical memory: no limit
            limited = value != "max" and int(value) < psutil.virtual_memory().total
            return int(value) if limited else None
    return None


def _cpu_affinity() -> int | None:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    try:
        return len(psutil.Process().cpu_affinity())  # Windows; absent on macOS
    except (AttributeError, psutil.Error):
        return None


def environment_report(check_backends: bool = True) -> EnvironmentReport:
    """Collect the facts about this machine and environment (takes well under a second,
    plus up to ``backends.CHECK_TIMEOUT`` seconds per real server that does not answer)."""
    memory = psutil.virtual_memory()
    cpu_quota, memory_limit = cgroup_limits()
    return EnvironmentReport(
        python_version=platform.python_version(),
        python_implementation=platform.python_implementation(),
        system=platform.system(),
        machine=platform.machine(),
        platform=platform.platform(),
        cpu_logical=os.cpu_count(),
        cpu_affinity=_cpu_affinity(),
        cpu_quota=cpu_quota,
        memory_total=memory.total,
        memory_available=memory.available,
        memory_limit=memory_limit,
        packages={name: package_version(name) for name in KEY_PACKAGES},
        backends=describe_backends(check=check_backends),
    )


def machine_summary(report: EnvironmentReport | None = None) -> str:
    """One line to print next to measured figures, e.g.
    ``"Python 3.11.7 on Linux x86_64, 2 cores, 23.4 GiB RAM"``."""
    report = report or environment_report(check_backends=False)
    cores = report.cores
    cores_text = "unknown cores" if cores is None else f"{cores} core{'s' if cores != 1 else ''}"
    return (
        f"{report.python_implementation if report.python_implementation != 'CPython' else 'Python'} "
        f"{report.python_version} on {report.system} {report.machine}, {cores_text}, "
        f"{report.memory / GIB:.1f} GiB RAM"
    )


def _major_minor(version: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", version)
    return (int(match[1]), int(match[2])) if match else (0, 0)


def check_environment(report: EnvironmentReport | None = None) -> list[str]:
    """Problems that would stop the course from working, in plain words; [] if none."""
    report = report or environment_report()
    problems = []
    if _major_minor(report.python_version) < MIN_PYTHON:
        needed = ".".join(map(str, MIN_PYTHON))
        problems.append(
            f"Python {report.python_version} is too old: the course needs Python {needed} or newer. "
            f"Rebuild the environment with a newer Python, e.g. `make clean && make lab PYTHON=python{needed}`."
        )
    missing = [name for name, version in report.packages.items() if version == NOT_INSTALLED]
    if missing:
        problems.append(
            f"Not installed: {', '.join(missing)}. Install the course into this environment "
            "(`make install`, or `pip install -e .` in the repository), then restart the kernel."
        )
    available = min(report.memory_available, report.memory)
    if available < MIN_AVAILABLE_MEMORY:
        problems.append(
            f"Only {available / GIB:.1f} GiB of memory is available; a lesson may need up to "
            f"{MIN_AVAILABLE_MEMORY / GIB:.0f} GiB. Shut down other kernels (Kernel > Shut Down All "
            "Kernels) and close programs you do not need."
        )
    for backend in report.backends:
        if backend.ok is False and backend.kind == "real":
            problems.append(
                f"{backend.env_var} is set to {backend.url}, but that {backend.name} server did not "
                f"answer ({backend.error}). Start the server or fix the URL, or unset "
                f"{backend.env_var} to use the embedded default; then restart Jupyter."
            )
        elif backend.ok is False:
            problems.append(f"The embedded {backend.name} backend does not work: {backend.error}.")
    return problems
