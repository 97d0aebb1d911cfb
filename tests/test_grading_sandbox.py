"""The grader's bubblewrap sandbox, against generated hostile submissions.

Each hostile submission reports what it managed in an error it raises from its answer cell
(``PROBE-DONE ...``), read back from the run's records, and earns points only if its attack
worked. The tests that need a working ``bwrap`` skip without one, and fail under CI=true.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from grading_fixtures import CLASS, NAME, _student, make_course, processes_with
from needs import skip_or_fail

from course_tools.grading import runner, sandbox
from course_tools.grading.cli import main
from course_tools.grading.runner import Assignment, Limits, SubmissionResult, grade_submission

REPO = Path(__file__).resolve().parents[1]
LIMITS = Limits(cell_timeout=10, memory_mb=1024, submission_timeout=120)


@pytest.fixture(scope="module")
def sandboxed():
    """Grading in these tests must use the sandbox (COURSE_GRADE_SANDBOX=required)."""
    bwrap = shutil.which("bwrap")
    problem = sandbox.NO_BWRAP if bwrap is None else sandbox._probe(bwrap)
    if problem:
        skip_or_fail(f"no bubblewrap sandbox on this machine: {problem}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(sandbox.ENV_VAR, "required")
        yield


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> tuple[Path, Assignment]:
    root = make_course(tmp_path_factory.mktemp("course"))
    return root, Assignment.load(NAME, root / "solutions", root / "rubrics")


def _grade(
    nb: nbformat.NotebookNode, assignment: Assignment, folder: Path, monkeypatch
) -> tuple[SubmissionResult, str]:
    """Grade ``nb``; the result and every message of the run (graded cells or not)."""
    runs: list[tuple[list[dict], str | None]] = []
    real = runner.run_nbval
    monkeypatch.setattr(runner, "run_nbval", lambda *a, **k: runs.append(real(*a, **k)) or runs[-1])
    path = folder / "hostile.ipynb"
    nbformat.write(nb, path)
    result = grade_submission("hostile", path, assignment, LIMITS)
    records, problem = runs[-1]  # the submission's run (the reference solution's may come first)
    return result, "\n".join([r["message"] for r in records] + [problem or "", result.status])


def _split(secret: str) -> str:
    """``secret`` as a Python expression in which the whole string never appears."""
    middle = len(secret) // 2
    return f"{secret[:middle]!r} + {secret[middle:]!r}"


def _reader(patterns: list[str], secrets: list[str]) -> nbformat.NotebookNode:
    """Reads every file matching ``patterns`` (but its own kernel's folder); ``add`` is right only if
    a secret was read."""
    probe = f"""\
import glob, os
from ipykernel.connect import get_connection_file
own = os.path.dirname(get_connection_file())
found = {{}}
for pattern in {patterns!r}:
    for path in glob.glob(pattern):
        if os.path.dirname(path) == own:
            continue
        try:
            with open(path, errors="replace") as file:
                found[path] = file.read()
        except OSError:
            pass
leak = "".join(found.values())
print(leak)
secrets = [s for s in [{", ".join(_split(s) for s in secrets)}] if s in leak]
def add(a, b):
    return a + b if secrets else 0
raise RuntimeError(f"PROBE-DONE read {{len(found)}} files, {{len(secrets)}} secrets")
"""
    return _student({"add_answer": probe})


def test_a_submission_reads_nothing_outside_its_work_dir(sandboxed, course, tmp_path, monkeypatch):
    root, assignment = course
    sibling = Path(tempfile.mkdtemp(prefix="course-grade-", dir=tempfile.gettempdir()))  # beside the work dir
    try:
        sibling_secret = f"SIBLING-SECRET-{uuid.uuid4().hex}"
        (sibling / "submission.ipynb").write_text(sibling_secret)
        patterns = [
            f"{root}/solutions/*",
            f"{root}/rubrics/*",
            f"{REPO}/solutions/*",
            f"{REPO}/rubrics/*",
            f"{sibling}/*",
            f"{tempfile.gettempdir()}/course-grade-*/*",
        ]
        secrets = ["### BEGIN SOLUTION", "add works on hidden cases", sibling_secret]
        nb = _reader(patterns, secrets)

        result, text = _grade(nb, assignment, tmp_path, monkeypatch)
        assert "PROBE-DONE read 0 files, 0 secrets" in text, text[-2000:]
        assert result.total == 0
        assert not any(secret in text for secret in secrets)

        # The same submission without the sandbox reads them all: the probe is no empty threat.
        monkeypatch.setenv(sandbox.ENV_VAR, "off")
        result, text = _grade(nb, assignment, tmp_path, monkeypatch)
        assert "PROBE-DONE read 0 files" not in text and " 3 secrets" in text, text[-2000:]
        assert result.total == 5
    finally:
        shutil.rmtree(sibling)


def test_no_network_but_its_own_loopback(sandboxed, course, tmp_path, monkeypatch):
    _, assignment = course
    accepted: list[object] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.2)
        stop = threading.Event()

        def accept() -> None:
            while not stop.is_set():
                try:
                    accepted.append(server.accept()[0].getpeername())
                except OSError:
                    pass

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        probe = f"""\
import os, socket
def connect(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3):
            return "connected"
    except OSError as error:
        return type(error).__name__
host = connect({server.getsockname()[1]})
with socket.create_server(("127.0.0.1", 0)) as own_server:  # an exercise's own local server
    own = connect(own_server.getsockname()[1])
try:
    os.kill({os.getpid()}, 0)
    grader = "reachable"
except OSError as error:
    grader = type(error).__name__
def add(a, b):
    return a + b if host == "connected" else 0
def mul(a, b):
    return a * b if own == "connected" else 0
raise RuntimeError(f"PROBE-DONE host={{host}} own={{own}} grader={{grader}}")
"""
        try:
            result, text = _grade(
                _student({"add_answer": probe, "mul_answer": "pass"}), assignment, tmp_path, monkeypatch
            )
        finally:
            stop.set()
            thread.join()
    assert "PROBE-DONE host=ConnectionRefusedError own=connected grader=ProcessLookupError" in text, text[-2000:]
    assert accepted == []
    assert {g: c.outcome for g, c in result.cells.items()} == {
        "add_visible": "failed",
        "add_hidden": "failed",
        "mul_visible": "passed",
    }


def test_nothing_outlives_the_run(sandboxed, course, tmp_path, monkeypatch):
    _, assignment = course
    marker = f"course-grade-daemon-{uuid.uuid4().hex}"
    escape = tmp_path / "escape.log"  # the grader's side: the daemon must never write here
    daemon = (
        "import os, sys, time\n"
        "while True:\n"
        "    for path in (sys.argv[1], 'daemon.pid'):\n"
        "        try:\n"
        "            with open(path, 'a') as f:\n"
        "                f.write(str(os.getpid()) + chr(10))\n"
        "        except OSError:\n"
        "            pass\n"
        "    time.sleep(0.1)\n"
    )
    # Double fork (sh, then its background job) and a new session: out of the kernel's process
    # group, re-parented to the sandbox's init, holding the run's output open.
    probe = f"""\
import os, subprocess, sys, time
script = 'setsid "$0" -c "$1" "$2" "$3" &'
subprocess.run(["/bin/sh", "-c", script, sys.executable, {daemon!r}, {str(escape)!r}, {marker!r}])
deadline = time.monotonic() + 5
while not os.path.exists("daemon.pid") and time.monotonic() < deadline:
    time.sleep(0.05)
def add(a, b):
    return a + b
raise RuntimeError("PROBE-DONE daemon " + ("started" if os.path.exists("daemon.pid") else "missing"))
"""
    start = time.monotonic()
    result, text = _grade(_student({"add_answer": probe}), assignment, tmp_path, monkeypatch)
    assert time.monotonic() - start < 60, "the grader waited on output held open by the daemon"
    assert "PROBE-DONE daemon started" in text, text[-2000:]
    assert result.cells["add_visible"].outcome == "passed"
    assert processes_with(marker) == []
    time.sleep(0.5)
    assert not escape.exists()


def test_the_honest_submission_earns_full_marks_in_the_sandbox(sandboxed, course, tmp_path):
    _, assignment = course
    path = tmp_path / "alice.ipynb"
    nbformat.write(CLASS["alice"][0](), path)
    result = grade_submission("alice", path, assignment, LIMITS)
    assert (result.total, result.status) == (10, "graded")


def test_auto_uses_the_sandbox_where_bwrap_works(sandboxed, monkeypatch):
    """So that tests/test_exercises_grade.py (default: auto) grades every exercise sandboxed."""
    monkeypatch.setenv(sandbox.ENV_VAR, "auto")
    assert sandbox.sandbox_for_run() is not None


def test_the_sandbox_binds_the_library_not_the_repository(sandboxed):
    argv = sandbox.sandbox_for_run().command(["true"], Path("/tmp/kernel"), {})
    binds = {argv[i + 1] for i, arg in enumerate(argv) if arg in ("--bind", "--ro-bind")}
    assert str(REPO / "course_lib") in binds
    assert not {str(REPO), str(REPO / "solutions"), str(REPO / "rubrics"), str(REPO / "course_tools")} & binds
    assert not any(arg.startswith("COURSE_") and arg.endswith("_URL") for arg in argv)
    assert argv[argv.index("--chdir") + 1] == sandbox.WORK and "--clearenv" in argv


# Without bwrap: today's grading, said once; or, when required, a clear refusal.


@pytest.fixture
def no_bwrap(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    monkeypatch.setattr(sandbox, "_told", set())


def test_without_bwrap_grading_says_so_once(no_bwrap, monkeypatch, caplog):
    monkeypatch.setenv(sandbox.ENV_VAR, "auto")
    with caplog.at_level(logging.WARNING, logger="course_tools.grading"):
        assert sandbox.sandbox_for_run() is None
        assert sandbox.sandbox_for_run() is None
    assert caplog.messages == [
        "grading without a sandbox: bwrap is not available (apt-get install bubblewrap); "
        "submissions can read files the grader can read"
    ]


def test_without_bwrap_required_refuses_clearly(no_bwrap, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(sandbox.ENV_VAR, "required")
    with pytest.raises(sandbox.SandboxUnavailable, match="COURSE_GRADE_SANDBOX=required, but bwrap is not available"):
        sandbox.sandbox_for_run()
    (tmp_path / "solutions").mkdir()
    (tmp_path / "submissions" / "alice").mkdir(parents=True)
    with pytest.raises(SystemExit):
        main([str(tmp_path / "submissions"), "--course", str(tmp_path)])
    assert "COURSE_GRADE_SANDBOX=required, but bwrap is not available" in capsys.readouterr().err


def test_without_bwrap_a_submission_is_graded_as_before(no_bwrap, course, tmp_path, monkeypatch):
    monkeypatch.setenv(sandbox.ENV_VAR, "auto")
    _, assignment = course
    path = tmp_path / "alice.ipynb"
    nbformat.write(CLASS["alice"][0](), path)
    assert grade_submission("alice", path, assignment, LIMITS).total == 10


def test_a_wrong_mode_is_refused(monkeypatch):
    monkeypatch.setenv(sandbox.ENV_VAR, "maybe")
    with pytest.raises(sandbox.SandboxUnavailable, match="'maybe' is not one of off, auto, required"):
        sandbox.sandbox_for_run()
