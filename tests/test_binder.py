"""Binder (repo2docker) configuration: what can be proven without a Docker engine.

repo2docker cannot run here, so these tests check what it reads and runs, the way it does:
- configuration at the root only: a `binder/` or `.binder/` folder would make repo2docker read
  its files from there and ignore the root ones (BuildPack.binder_dir in repo2docker's source);
- `environment.yml` parses and lists registry packages only (tests/test_packaging.py checks it
  mirrors pyproject.toml); `apt.txt` holds package names repo2docker accepts;
- `postBuild` installs the course into a fresh virtualenv, as it does into Binder's conda env;
- `start` (run by repo2docker at every launch) ends in `exec "$@"`, takes seconds, starts a real
  Redis when redis-server is installed, and degrades to fakeredis cleanly when it is not.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from needs import skip_or_fail

ROOT = Path(__file__).resolve().parents[1]
BADGE_LINK = "https://mybinder.org/v2/gh/OWNER/REPO/HEAD?urlpath=lab/tree/notebooks/00_start_here.ipynb"
SHOW_URL = ["/bin/bash", "-c", 'echo "$$ ${COURSE_REDIS_URL-unset}"']


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(tmp_path: Path, command: list[str], path: str, **env: str) -> tuple[subprocess.Popen, str, str, float]:
    """Run the root `start` script as repo2docker does (`start <command>`) and return the
    process, its stdout, stderr and wall time."""
    environment = {k: v for k, v in os.environ.items() if k != "COURSE_REDIS_URL"}
    environment.update(PATH=path, TMPDIR=str(tmp_path), **env)
    begin = time.perf_counter()
    process = subprocess.Popen(
        [str(ROOT / "start"), *command],
        cwd=ROOT,
        env=environment,
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = process.communicate(timeout=60)
    return process, out, err, time.perf_counter() - begin


def test_binder_config_is_at_the_root_only():
    for folder in ("binder", ".binder"):
        assert not (ROOT / folder).exists(), (
            f"{folder}/ exists: repo2docker would read its configuration from there and ignore the root "
            "environment.yml, postBuild, start and apt.txt"
        )
    for name in ("environment.yml", "postBuild", "start", "apt.txt"):
        assert (ROOT / name).is_file(), f"{name} is missing from the repository root"


def test_environment_yml_lists_registry_packages_only():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    [pip] = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    for requirement in pip:
        assert not re.match(r"^(-e|--|\.|/|git\+|file:)", requirement), (
            f"{requirement!r}: environment.yml must name registry packages only; the course itself is "
            "installed by postBuild, so a content change does not rebuild the package layer"
        )


def test_apt_txt_names_packages_repo2docker_accepts():
    # repo2docker strips '#' comments and rejects anything that is not a plain package name.
    packages = [line.partition("#")[0].strip() for line in (ROOT / "apt.txt").read_text().splitlines()]
    packages = [p for p in packages if p]
    assert packages and all(re.fullmatch(r"[a-z0-9.+-]+", p) for p in packages), packages
    assert "redis-server" in packages


@pytest.mark.parametrize("name", ["postBuild", "start"])
def test_scripts_are_executable_bash(name):
    script = ROOT / name
    assert os.access(script, os.X_OK), f"{name} must be executable (chmod +x {name}; git keeps the bit)"
    assert script.read_text().startswith("#!/bin/bash\n")
    check = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_start_ends_by_handing_over_to_the_command():
    lines = [line.strip() for line in (ROOT / "start").read_text().splitlines() if line.strip()]
    assert lines[-1] == 'exec "$@"'
    assert "set -e" not in (ROOT / "start").read_text(), "start must never stop the launch on an error"


def test_postbuild_installs_the_course_into_a_fresh_environment(tmp_path):
    """postBuild runs `pip install --no-deps -e .` in the repository; here in a copy of the
    package's files and a fresh virtualenv (Binder's conda env already has the dependencies)."""
    copy = tmp_path / "repo"
    copy.mkdir()
    for name in ("pyproject.toml", "README.md", "postBuild"):
        shutil.copy2(ROOT / name, copy / name)
    shutil.copytree(ROOT / "course_lib", copy / "course_lib", ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("VIRTUAL_ENV", None)
    run = subprocess.run(["./postBuild"], cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"postBuild failed:\n{run.stdout}\n{run.stderr}"
    where = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.util, importlib.metadata as m; "
            "print(m.version('perf-course'), importlib.util.find_spec('course_lib').origin)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    version, origin = where.stdout.split()
    assert version == "0.1.0" and Path(origin).resolve() == (copy / "course_lib" / "__init__.py").resolve()


def test_start_without_redis_server_changes_nothing(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    process, out, err, seconds = _start(tmp_path, SHOW_URL, path=str(empty))
    assert process.returncode == 0, err
    pid, url = out.split()
    assert int(pid) == process.pid, "start must exec the command (same process), not run it as a child"
    assert url == "unset" and seconds < 5


def test_start_survives_a_redis_server_that_fails(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "redis-server").write_text("#!/bin/sh\nexit 1\n")
    (fake / "redis-server").chmod(0o755)
    process, out, err, seconds = _start(tmp_path, SHOW_URL, path=f"{fake}:/usr/bin:/bin")
    assert process.returncode == 0 and out.split()[1] == "unset"
    assert "fakeredis" in err and seconds < 5


def test_start_leaves_a_configured_redis_alone(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "redis-server").write_text(f"#!/bin/sh\ntouch {tmp_path}/called\n")
    (fake / "redis-server").chmod(0o755)
    process, out, _, _ = _start(
        tmp_path, SHOW_URL, path=f"{fake}:/usr/bin:/bin", COURSE_REDIS_URL="redis://example.invalid:6379/3"
    )
    assert process.returncode == 0 and out.split()[1] == "redis://example.invalid:6379/3"
    assert not (tmp_path / "called").exists()


def test_start_with_redis_server_starts_one_and_exports_its_url(tmp_path):
    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed (Debian: apt-get install redis-server)")
    port = _free_port()
    ping = [
        sys.executable,
        "-c",
        "import os, redis; url = os.environ['COURSE_REDIS_URL']; print(url, redis.Redis.from_url(url).ping())",
    ]
    pidfile = tmp_path / "course-redis" / "redis.pid"
    try:
        process, out, err, seconds = _start(tmp_path, ping, path=os.environ["PATH"], COURSE_REDIS_PORT=str(port))
        assert process.returncode == 0, err
        assert out.split() == [f"redis://127.0.0.1:{port}/0", "True"]
        assert seconds < 10, f"start took {seconds:.1f} s; it runs at every Binder launch"
    finally:
        if pidfile.exists():
            pid = int(pidfile.read_text())
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                os.kill(pid, signal.SIGKILL)


def test_the_readme_badge_launches_start_here_in_lab():
    readme = (ROOT / "README.md").read_text()
    assert f"]({BADGE_LINK})" in readme
    assert "placeholder" in readme.split(BADGE_LINK, 1)[1][:200], "say that OWNER/REPO is a placeholder"
    assert (ROOT / BADGE_LINK.split("urlpath=lab/tree/", 1)[1]).is_file()


def test_the_readme_notes_mybinder_limits_with_their_source():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Binder", 1)[1].split("\n## ", 1)[0]
    for fact in ("1 GB", "2 GB", "10 minutes", "core", "user-guidelines"):
        assert fact in section, f"the README's Binder section does not mention {fact!r}"
