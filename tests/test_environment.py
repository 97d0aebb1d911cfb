"""course_lib.environment: the environment report, the one-line summary, the problem list."""

import dataclasses
import platform
import re
from importlib import metadata

import numpy
import pytest

from course_lib import environment
from course_lib.backends import DATABASE_ENV, PROMETHEUS_ENV, REDIS_ENV, BackendInfo
from course_lib.environment import (
    KEY_PACKAGES,
    NOT_INSTALLED,
    EnvironmentReport,
    cgroup_limits,
    check_environment,
    environment_report,
    machine_summary,
)

GIB = 1 << 30


@pytest.fixture
def embedded(monkeypatch):
    for var in (DATABASE_ENV, REDIS_ENV, PROMETHEUS_ENV):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def healthy() -> EnvironmentReport:
    """A made-up report of a machine with nothing wrong."""
    return EnvironmentReport(
        python_version="3.11.7",
        python_implementation="CPython",
        system="Linux",
        machine="x86_64",
        platform="Linux-6.1-x86_64-with-glibc2.36",
        cpu_logical=8,
        cpu_affinity=2,
        cpu_quota=None,
        memory_total=24 * GIB,
        memory_available=20 * GIB,
        memory_limit=None,
        packages={name: "1.0" for name in KEY_PACKAGES},
        backends=[
            BackendInfo("database", "embedded", DATABASE_ENV, "sqlite:///<temporary file>", ok=True),
            BackendInfo("redis", "embedded", REDIS_ENV, "fakeredis (in-process)", ok=True),
            BackendInfo("prometheus", "embedded", PROMETHEUS_ENV, "in-process registry", ok=True),
        ],
    )


def test_report_describes_this_interpreter_and_machine(embedded):
    report = environment_report()
    assert report.python_version == platform.python_version()
    assert report.python_implementation == platform.python_implementation()
    assert report.cpu_logical is None or report.cpu_logical >= 1
    assert report.cores is None or report.cores >= 1
    assert 0 < report.memory_available <= report.memory_total


def test_report_lists_every_key_package_with_its_version(embedded):
    report = environment_report(check_backends=False)
    assert list(report.packages) == list(KEY_PACKAGES)
    for name in (
        "jupyterlab",
        "nbval",
        "numpy",
        "pandas",
        "matplotlib",
        "line_profiler",
        "fakeredis",
        "redis",
        "sqlalchemy",
        "psycopg",
        "ipykernel",
        environment.COURSE_DISTRIBUTION,
    ):
        assert name in report.packages
    assert report.packages["numpy"] == numpy.__version__


def test_tables_have_the_expected_rows_and_columns(embedded):
    report = environment_report()
    machine = report.machine_table()
    assert list(machine.columns) == ["item", "value"]
    assert {
        "Python",
        "platform",
        "logical CPUs",
        "CPUs this process may use",
        "total memory",
        "available memory",
    } <= set(machine["item"])
    packages = report.package_table()
    assert list(packages.columns) == ["package", "version"] and len(packages) == len(KEY_PACKAGES)
    assert "perf-course (course_lib)" in set(packages["package"])
    backends = report.backend_table()
    assert list(backends["service"]) == ["database", "redis", "prometheus"]
    assert list(backends["kind"]) == ["embedded"] * 3
    assert list(backends["status"]) == ["ok"] * 3


def test_machine_summary_is_one_line_with_python_platform_cores_and_memory(embedded):
    summary = machine_summary()
    assert "\n" not in summary
    assert re.fullmatch(r"Python \d+\.\d+\.\d+\S* on \S+ \S+, \d+ cores?, \d+\.\d GiB RAM", summary), summary
    assert platform.python_version() in summary


def test_machine_summary_uses_the_smaller_container_limits(healthy):
    limited = dataclasses.replace(healthy, cpu_quota=1.0, memory_limit=2 * GIB)
    assert machine_summary(limited) == "Python 3.11.7 on Linux x86_64, 1 core, 2.0 GiB RAM"
    assert machine_summary(healthy) == "Python 3.11.7 on Linux x86_64, 2 cores, 24.0 GiB RAM"


def test_a_healthy_environment_has_no_problems(healthy):
    assert check_environment(healthy) == []


def test_this_environment_has_no_problems(embedded):
    """The course's own virtualenv must pass its own check."""
    assert check_environment() == []


def test_old_python_is_flagged(monkeypatch, embedded):
    monkeypatch.setattr(environment.platform, "python_version", lambda: "3.10.13")
    problems = check_environment()
    assert any("3.10.13" in p and "3.11" in p for p in problems), problems


def test_missing_package_is_reported_not_raised(monkeypatch, embedded):
    real_version = metadata.version

    def version(name):
        if name == "line_profiler":
            raise metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(environment.metadata, "version", version)
    report = environment_report(check_backends=False)
    assert report.packages["line_profiler"] == NOT_INSTALLED
    problems = check_environment(report)
    assert len(problems) == 1 and "line_profiler" in problems[0] and "install" in problems[0].lower(), problems


def test_low_memory_is_flagged(healthy):
    problems = check_environment(dataclasses.replace(healthy, memory_available=GIB // 2))
    assert len(problems) == 1 and "0.5 GiB" in problems[0], problems


def test_a_container_limit_below_one_gib_is_flagged(healthy):
    problems = check_environment(dataclasses.replace(healthy, memory_limit=GIB // 2))
    assert len(problems) == 1 and "memory" in problems[0], problems


def test_a_real_backend_that_does_not_answer_is_flagged_with_its_variable(healthy):
    silent = BackendInfo(
        "redis",
        "real",
        REDIS_ENV,
        "redis://:***@127.0.0.1:6390/0",
        ok=False,
        error="ConnectionError: Connection refused.",
    )
    report = dataclasses.replace(healthy, backends=[healthy.backends[0], silent, healthy.backends[2]])
    problems = check_environment(report)
    assert len(problems) == 1
    assert REDIS_ENV in problems[0] and "Connection refused" in problems[0] and "unset" in problems[0]


def test_an_unreachable_url_in_the_environment_becomes_a_problem_with_the_password_masked(monkeypatch):
    monkeypatch.setenv(DATABASE_ENV, "postgresql://course:s3cret@127.0.0.1:1/course")
    monkeypatch.delenv(REDIS_ENV, raising=False)
    monkeypatch.delenv(PROMETHEUS_ENV, raising=False)
    report = environment_report()
    problems = check_environment(report)
    assert len(problems) == 1 and DATABASE_ENV in problems[0]
    assert "course:***@127.0.0.1:1" in problems[0]
    text = " ".join(problems) + report.backend_table().to_string()
    assert "s3cret" not in text


@pytest.mark.parametrize(
    ("files", "proc", "expected"),
    [
        ({"cpu.max": "150000 100000", "memory.max": "2147483648"}, "0::/\n", (1.5, 2 * GIB)),
        ({"cpu.max": "max 100000", "memory.max": "max"}, "0::/\n", (None, None)),
        (
            {
                "cpu/cpu.cfs_quota_us": "-1",
                "cpu/cpu.cfs_period_us": "100000",
                "memory/job/memory.limit_in_bytes": str(GIB),
            },
            "4:memory:/job\n1:cpu,cpuacct:/\n",
            (None, GIB),
        ),
        (
            {
                "cpu/cpu.cfs_quota_us": "200000",
                "cpu/cpu.cfs_period_us": "100000",
                "memory/memory.limit_in_bytes": "9223372036854771712",
            },
            "1:cpu:/\n",
            (2.0, None),
        ),
        ({}, "", (None, None)),  # not Linux, or no cgroup files at all
    ],
)
def test_cgroup_limits(tmp_path, files, proc, expected):
    root = tmp_path / "cgroup"
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content + "\n")
    (tmp_path / "proc_cgroup").write_text(proc)
    assert cgroup_limits(root, tmp_path / "proc_cgroup") == expected
