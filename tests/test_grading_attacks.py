"""A hostile class: each attack of the grader's threat list, as a generated notebook, graded in one
run beside honest classmates.

Every attacker's honest score is 0 (its ``add`` is wrong, its ``mul`` unsolved), so any point it
earns came from an attack that worked. Two honest classmates, graded after the attackers by the
same workers, must get exactly their own grades. After the run, nothing the attackers started is
alive, no file outside their sandboxes changed, and the grader left no folder or control group.
README's table of attacks closed and open points here. Needs a working bubblewrap sandbox.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from grading_fixtures import ADD, MUL, NAME, _student, make_course, processes_with
from needs import skip_or_fail

from course_tools.grading import confine, runner, sandbox
from course_tools.grading.cli import grade_class
from course_tools.grading.runner import Assignment, Limits

REPO = Path(__file__).resolve().parents[1]
LIMITS = Limits(cell_timeout=20, memory_mb=1024, submission_timeout=30, processes=128, file_mb=64)
MARKER = f"course-attack-{uuid.uuid4().hex}"
WRONG = "def add(a, b):\n    return 0\n"
#: Files a submission must not change: the grader's source, the library, nbval, a startup folder.
GUARDED = [
    REPO / "course_tools" / "grading" / "nbval_guard.py",
    REPO / "course_tools" / "grading" / "worker.py",
    REPO / "course_lib" / "__init__.py",
]


def _attacks(submissions: Path, out: Path) -> dict[str, str]:
    """Student name -> the code of its answer cell (each ends with the wrong ``add``). Probes that
    measure a limit report in an error (``PROBE-DONE ...``), read back from the run's records."""
    grades = out / NAME / "grades.csv"
    startup = Path.home() / ".ipython" / "profile_default" / "startup" / f"00-{MARKER}.py"
    solve = f"{ADD}\n{MUL}\n"
    daemon = (
        "import time\nfor _ in range(200):\n    time.sleep(0.1)\n    try:\n"
        f"        open({str(grades)!r}, 'w').write('FORGED')\n    except OSError:\n        pass\n"
    )
    return {
        # another student's notebook, edited in the submissions folder or found through /proc
        "a_edit_classmates": f"""\
import glob
for path in glob.glob({str(submissions)!r} + "/*/*.ipynb") + glob.glob("/proc/*/root/tmp/*/*.ipynb"):
    try:
        with open(path, "a") as f:
            f.write("tampered")
    except OSError:
        pass
""",
        # code that every later kernel would run: IPython startup files, here and in the real $HOME
        "b_startup_file": f"""\
import os
for path in [os.path.expanduser("~/.ipython/profile_default/startup/00-add.py"), {str(startup)!r}]:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write({solve!r})
    except OSError:
        pass
""",
        # the grader's own source, the library, nbval: append a definition of add
        "c_edit_grader": f"""\
import nbval.plugin
for path in {[str(p) for p in GUARDED]!r} + [nbval.plugin.__file__]:
    try:
        with open(path, "a") as f:
            f.write("\\n" + {solve!r})
    except OSError:
        pass
""",
        # a fork bomb, bounded: 400 sleeping processes
        "d_many_processes": f"""\
import subprocess
children = []
try:
    for _ in range(400):
        children.append(subprocess.Popen([{MARKER!r}, "60"], executable="/bin/sleep"))
except OSError:
    pass
raise RuntimeError(f"PROBE-DONE processes started={{len(children)}}")
""",
        # children that together use far more than the submission's memory
        "e_memory_children": f"""\
import subprocess, sys
code = "import time; b = b'x' * (500 * 2**20); print('allocated', flush=True); time.sleep(60)"
children = [subprocess.Popen([sys.executable, "-c", code, {MARKER!r}], stdout=subprocess.PIPE) for _ in range(4)]
allocated = [child.stdout.readline() == b"allocated\\n" for child in children]  # or b"": killed first
import time; time.sleep(0.5)
alive = sum(a and c.poll() is None for a, c in zip(allocated, children))
raise RuntimeError(f"PROBE-DONE memory children alive={{alive}}")
""",
        # a file as big as the disk allows, in the working folder and in the kernel's own folder
        "f_big_file": """\
import os
from ipykernel.connect import get_connection_file
written = []
for folder in (".", os.path.dirname(get_connection_file())):
    path = os.path.join(folder, "big.bin")
    try:
        with open(path, "wb") as f:
            for _ in range(1024):
                f.write(b"x" * 2**20)
    except OSError:
        pass
    written.append(os.path.getsize(path) // 2**20 if os.path.exists(path) else 0)
raise RuntimeError(f"PROBE-DONE big files MB={written}")
""",
        # a kernel that ignores interrupts and SIGTERM and prints for ever
        "g_flood_forever": """\
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
while True:
    print("x" * 10000)
""",
        # SIGKILL to every process it can signal
        "h_kill_all": "import os, signal\nos.kill(-1, signal.SIGKILL)\n",
        # a classmate's kernel: its connection file
        "i_connect_kernels": """\
import glob, json, os
from ipykernel.connect import get_connection_file
from jupyter_client import BlockingKernelClient
own = get_connection_file()
for path in glob.glob("/tmp/course-grade-*/kernel.json") + glob.glob("/proc/*/root/tmp/*/kernel.json"):
    if os.path.realpath(path) != os.path.realpath(own):
        client = BlockingKernelClient()
        client.load_connection_file(path)
        client.start_channels()
        client.execute("def add(a, b):\\n    return a + b\\ndef mul(a, b):\\n    return a * b")
""",
        # forged results, wherever a results file might be read from
        "j_forge_results": """\
import glob, json, os
forged = json.dumps([{"cell": n, "grade_id": g, "outcome": "passed", "message": ""}
                     for n, g in enumerate(["add_visible", "add_hidden", "mul_visible"])])
for folder in [".", "..", "/tmp", *glob.glob("/tmp/course-grade-*")]:
    try:
        with open(os.path.join(folder, "results.json"), "w") as f:
            f.write(forged)
    except OSError:
        pass
""",
        # a detached process (double fork, new session) that rewrites grades.csv after grading
        "k_detached_rewriter": f"""\
import subprocess, sys
subprocess.run(["/bin/sh", "-c", 'setsid "$0" -c "$1" "$2" &', sys.executable, {daemon!r}, {MARKER!r}])
""",
    }


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    bwrap = shutil.which("bwrap")
    problem = sandbox.NO_BWRAP if bwrap is None else sandbox._probe(bwrap)
    if problem:
        skip_or_fail(f"no bubblewrap sandbox on this machine: {problem}")
    root = make_course(tmp_path_factory.mktemp("course"))
    submissions, out = root / "submissions", root / "out"
    attacks = _attacks(submissions, out)
    notebooks = {name: _student({"add_answer": code + WRONG}) for name, code in attacks.items()}
    notebooks["zz_honest"] = _student({"add_answer": ADD, "mul_answer": MUL})
    notebooks["zz_unsolved"] = _student()
    for name, nb in notebooks.items():
        (submissions / name).mkdir(parents=True)
        nbformat.write(nb, submissions / name / f"{NAME}.ipynb")
    before = {p: _digest(p) for p in [*submissions.rglob("*.ipynb"), *GUARDED]}
    assignment = Assignment.load(NAME, root / "solutions", root / "rubrics")
    messages: list[str] = []  # every cell's output and error in the run, read from the records
    real = runner.run_nbval

    def run_nbval(*args, **kwargs):
        records, problem = real(*args, **kwargs)
        messages.extend(r["message"] for r in records)
        return records, problem

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(sandbox.ENV_VAR, "required")
        patch.setattr(runner, "run_nbval", run_nbval)
        start = time.monotonic()
        results = grade_class(submissions, assignment, out, LIMITS, jobs=2, progress=lambda _: None)
        seconds = time.monotonic() - start
    grades_after_run = (out / NAME / "grades.csv").read_text()
    time.sleep(2)  # a detached rewriter, had it survived, would have written by now
    return {
        "results": {r.student: r for r in results},
        "attacks": attacks,
        "before": before,
        "out": out,
        "grades_after_run": grades_after_run,
        "probes": "\n".join(messages),
        "seconds": seconds,
    }


def test_no_attack_earns_a_point(hostile_class):
    earned = {name: hostile_class["results"][name].total for name in hostile_class["attacks"]}
    assert earned == dict.fromkeys(hostile_class["attacks"], 0.0)


def test_the_honest_classmates_get_their_own_grades(hostile_class):
    results = hostile_class["results"]
    assert (results["zz_honest"].total, results["zz_honest"].status) == (10, "graded")
    assert results["zz_unsolved"].total == 0 and results["zz_unsolved"].status == "graded"


def test_nothing_outside_the_sandboxes_changed(hostile_class):
    changed = [str(p) for p, digest in hostile_class["before"].items() if _digest(p) != digest]
    assert changed == []
    startup = Path.home() / ".ipython" / "profile_default" / "startup"
    assert not list(startup.glob(f"*{MARKER}*"))
    assert "FORGED" not in (hostile_class["out"] / NAME / "grades.csv").read_text()
    assert (hostile_class["out"] / NAME / "grades.csv").read_text() == hostile_class["grades_after_run"]


def test_nothing_is_left_running_or_on_disk(hostile_class):
    assert processes_with(MARKER) == []
    pid = os.getpid()
    assert not list(Path("/tmp").glob(f"course-grade-{pid}-*"))
    for hierarchy in confine.usable_hierarchies()[0]:
        assert not list(hierarchy.parent.glob(f"{confine.PREFIX}{pid}-*"))


def test_a_kernel_that_never_stops_costs_only_its_own_time(hostile_class):
    # Stopped at the notebook's deadline, or sooner by the memory limits (the output it prints faster
    # than it is sent grows in the kernel: a MemoryError in the cell, or the group's limit kills it).
    flood = hostile_class["results"]["g_flood_forever"]
    ends = (f"stopped after {LIMITS.submission_timeout} s", "kernel died", "ran out of memory")
    assert any(end in flood.status for end in ends), flood.status
    # Hang guard, not a speed claim: without the hard deadline this run would not end at all.
    assert hostile_class["seconds"] < 20 * LIMITS.submission_timeout


def _probe(hostile_class, label: str) -> str:
    lines = [line for line in hostile_class["probes"].splitlines() if f"PROBE-DONE {label}" in line]
    assert lines, f"the {label!r} attack did not report"
    values = [line.split("=", 1)[1].strip() for line in lines]
    return [value for value in values if "{" not in value][-1]  # the error's line, not the source's


def test_processes_memory_and_files_are_limited_for_the_whole_submission(hostile_class):
    if not confine.usable_hierarchies()[0]:
        skip_or_fail("no control groups here: only per-process limits (the grader says so once)")
    assert int(_probe(hostile_class, "processes started")) < LIMITS.processes
    assert int(_probe(hostile_class, "memory children alive")) < 2  # 4 x 500 MB in a 1024 MB submission
    # the working folder: at most file_mb; the kernel's own folder on the host: nothing
    assert _probe(hostile_class, "big files MB") == f"[{LIMITS.file_mb}, 0]"


def test_without_control_groups_grading_still_works(monkeypatch, tmp_path):
    """Where cgroups cannot be made (a laptop without root), limits are per process; grading works."""
    monkeypatch.setenv("COURSE_GRADE_CGROUPS", "off")  # read by the worker process too
    root = make_course(tmp_path / "course")
    path = tmp_path / "honest.ipynb"
    nbformat.write(_student({"add_answer": ADD, "mul_answer": MUL}), path)
    assignment = Assignment.load(NAME, root / "solutions", root / "rubrics")
    workers = runner.Workers(1)
    try:
        result = runner.grade_submission("honest", path, assignment, LIMITS, workers)
    finally:
        workers.close()
    assert (result.total, result.status) == (10, "graded")


def test_a_killed_run_leaves_no_hidden_tests_and_resumes(tmp_path):
    """SIGKILL to the grader mid-run: its workers and kernels die with it, no hidden test is left
    on disk, and ``--resume`` keeps what was graded and grades the rest."""
    root = make_course(tmp_path / "course")
    submissions = root / "submissions"
    slow = f"import subprocess\nsubprocess.run([{MARKER!r}, '12'], executable='/bin/sleep')\n{ADD}"
    for i in range(6):
        nb = _student({"add_answer": slow if i == 5 else ADD, "mul_answer": MUL})
        (submissions / f"s{i}").mkdir(parents=True)
        nbformat.write(nb, submissions / f"s{i}" / f"{NAME}.ipynb")
    command = [sys.executable, "-m", "course_tools.grading", str(submissions), "--course", str(root)]
    command += ["--out", str(root / "out"), "--jobs", "2", "--cell-timeout", "60"]
    journal = root / "out" / NAME / "graded.jsonl"
    grader = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not processes_with(MARKER):  # the slow student is running
            time.sleep(0.2)
        assert processes_with(MARKER), "the slow submission never started"
    finally:
        grader.kill()
        grader.wait()
    time.sleep(2)
    assert processes_with(MARKER) == []
    left = [p for p in Path("/tmp").glob(f"course-grade-{grader.pid}-*/**/*") if p.is_file()]
    assert not [p for p in left if b"add(-5, 5)" in p.read_bytes()]  # the hidden test's text
    graded_before = len(journal.read_text().splitlines())
    assert 1 <= graded_before < 6

    again = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"kept {graded_before} results" in again.stderr
    rows = (root / "out" / NAME / "grades.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == [f"s{i}" for i in range(6)]
    assert all(",10,10," in row for row in rows)
    assert not list(Path("/tmp").glob(f"course-grade-{grader.pid}-*"))  # swept by the resumed run
