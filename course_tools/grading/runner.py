"""Grade one submission: read it safely, restore the tests, run it with nbval in a sandbox.

Each run gets a fresh temporary directory holding only the assembled notebook (never the
solutions), a ``pytest`` process in its own session with an address-space cap (inherited
by the kernel) and a wall-clock limit for the whole run, and a per-cell timeout. Where
bubblewrap works, the run is also isolated by :mod:`course_tools.grading.sandbox`: no other
files, no network, its own PID namespace.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_tools.authoring import make_grading_template
from course_tools.cells import cell_role, grade_id
from course_tools.grading.assemble import assemble
from course_tools.grading.sandbox import sandbox_for_run
from course_tools.rubrics import Rubric, load_rubric

HIDDEN_MARKER = "### BEGIN HIDDEN TESTS"


@dataclass(frozen=True)
class Limits:
    """How much one submission may use. Defaults suit the course's small exercises."""

    cell_timeout: int = 60  # seconds per cell
    memory_mb: int = 2048  # address-space cap of the pytest process and its kernel
    submission_timeout: int = 900  # seconds for the whole notebook, kernel start included


@dataclass
class Assignment:
    """What grading one exercise needs: the grading template and the rubric."""

    name: str
    template: nbformat.NotebookNode
    rubric: Rubric
    hidden: frozenset[str]  # grade ids of test cells whose canonical source holds hidden tests

    @classmethod
    def load(cls, name: str, solutions: Path, rubrics: Path) -> Assignment:
        solution_path, rubric_path = solutions / f"{name}.ipynb", rubrics / f"{name}.yml"
        for path in (solution_path, rubric_path):
            if not path.exists():
                raise FileNotFoundError(f"{path} not found: grading '{name}' needs its solution notebook and rubric")
        solution = nbformat.read(solution_path, as_version=4)
        hidden = frozenset(grade_id(c) for c in solution.cells if cell_role(c) == "test" and HIDDEN_MARKER in c.source)
        return cls(name, make_grading_template(solution), load_rubric(rubric_path), hidden)


@dataclass
class CellResult:
    grade_id: str
    outcome: str  # passed, failed, not run
    points: float
    max_points: float
    message: str = ""  # plain words for the student; empty for hidden tests


@dataclass
class SubmissionResult:
    student: str
    assignment: str
    status: str  # "graded", or why not / what went wrong
    cells: dict[str, CellResult] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)  # written answers, by grade id

    @property
    def total(self) -> float:
        return sum(c.points for c in self.cells.values())


def read_submission(path: Path) -> tuple[nbformat.NotebookNode | None, str]:
    """The notebook, or ``None`` with a status that says what is wrong with the file."""
    if not path.exists():
        return None, "missing: no notebook with this name was handed in"
    raw = path.read_bytes()
    if not raw.strip():
        return None, "unreadable: the file is empty"
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"unreadable: not valid JSON ({error.__class__.__name__} at byte {getattr(error, 'pos', '?')})"
    if not isinstance(data, dict) or not ("cells" in data or "worksheets" in data):
        return None, "unreadable: JSON, but not a Jupyter notebook"
    if data.get("nbformat") not in (3, 4):
        return None, f"unreadable: nbformat {data.get('nbformat')!r} is not supported (needs 4; 3 is converted)"
    try:
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception as error:  # nbformat raises several kinds for malformed notebooks
        return None, f"unreadable: not a valid notebook ({error.__class__.__name__}: {str(error)[:120]})"
    return nb, "graded" if data["nbformat"] == 4 else "graded (converted from nbformat 3)"


def _limit_resources(memory_mb: int):
    def apply() -> None:
        cap = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def run_nbval(nb: nbformat.NotebookNode, limits: Limits) -> tuple[list[dict], str | None]:
    """Run ``nb`` under ``pytest --nbval-lax`` with the guard plugin; (cell results, problem).

    In the bubblewrap sandbox when there is one (:mod:`course_tools.grading.sandbox`). The grader
    waits for the process to exit, never for the end of its output: the output goes to a file, so
    a process that keeps it open cannot hold the grader past ``limits.submission_timeout``.
    """
    box = sandbox_for_run()
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:
        workdir = Path(tmp) / "work"  # the only folder the sandbox binds, writable
        workdir.mkdir()
        nbformat.write(nb, workdir / "submission.ipynb")
        (workdir / "pytest.ini").write_text("[pytest]\n")
        results = workdir / "results.json"
        # Only nbval and the guard are loaded (no plugin autoload): faster, and no pytest-xdist to
        # split the notebook's cells across kernels. One submission, one pytest, one kernel.
        command = [
            sys.executable,
            "-m",
            "pytest",
            "submission.ipynb",
            "-c",
            "pytest.ini",
            "--rootdir",
            str(workdir),
            "-p",
            "nbval.plugin",
            "-p",
            box.guard_module if box else "course_tools.grading.nbval_guard",
            f"--grading-results={results}",
            "--nbval-lax",
            "--nbval-current-env",
            f"--nbval-cell-timeout={limits.cell_timeout}",
            "-p",
            "no:cacheprovider",
            "--color=no",
            "-q",
        ]
        run_env = {
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            "MPLBACKEND": "Agg",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        argv, env = box.wrap(command, workdir, run_env) if box else (command, {**os.environ, **run_env})
        problem = None
        with open(Path(tmp) / "output.log", "w+b") as output:
            process = subprocess.Popen(
                argv,
                cwd=workdir,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_limit_resources(limits.memory_mb),
            )
            try:
                process.wait(timeout=limits.submission_timeout)
            except subprocess.TimeoutExpired:
                problem = f"stopped after {limits.submission_timeout} s for the whole notebook"
            finally:
                _kill_group(process)
            output.seek(max(0, os.fstat(output.fileno()).st_size - 4000))
            tail = output.read().decode(errors="replace")
        records = json.loads(results.read_text()) if results.exists() else []
        if not records and problem is None:
            problem = "nbval did not run: " + tail.strip()[-300:]
        return records, problem


def _kill_group(process: subprocess.Popen) -> None:
    """End pytest and everything it started (the kernel, anything the kernel started).

    In the sandbox, killing ``bwrap`` ends its PID namespace and so every process in it, even
    one that left the process group; without the sandbox such a process can outlive the run.
    """
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def grade_submission(student: str, path: Path, assignment: Assignment, limits: Limits = Limits()) -> SubmissionResult:
    """Grade one file. Never raises: whatever goes wrong becomes the result's status."""
    result = SubmissionResult(student, assignment.name, "graded")
    for gid, points in assignment.rubric.autograded_points.items():
        result.cells[gid] = CellResult(gid, "not run", 0.0, float(points))
    try:
        nb, result.status = read_submission(path)
        if nb is None:
            return result
        result.answers = _written_answers(nb)
        records, problem = run_nbval(assemble(nb, assignment.template), limits)
        _score(result, records, assignment)
        notes = _run_notes(records, limits) + ([problem] if problem else [])
        if any(c.outcome == "not run" for c in result.cells.values()):
            notes.append("some checks did not run")
        result.status = "; ".join([result.status, *notes])
    except Exception as error:  # a grader bug must cost one row, never the class
        result.status = f"grader error: {error.__class__.__name__}: {error}"
    return result


def _score(result: SubmissionResult, records: list[dict], assignment: Assignment) -> None:
    for record in records:
        cell = result.cells.get(record.get("grade_id"))
        if cell is None or cell.outcome != "not run":
            continue
        cell.outcome = "passed" if record["outcome"] == "passed" else "failed"
        cell.points = cell.max_points if cell.outcome == "passed" else 0.0
        if cell.outcome == "failed":
            cell.message = (
                "A hidden test failed." if cell.grade_id in assignment.hidden else _feedback_message(record["message"])
            )


#: What happened in a cell (any cell, graded or not), in words for the status column.
_RUN_EVENTS = (
    ("Timeout of", "a cell ran past the {cell_timeout} s limit and was interrupted"),
    ("MemoryError", "a cell ran out of memory (limit {memory_mb} MB)"),
    ("The kernel died", "the kernel died (os._exit, a crash or the memory cap); later cells could not run"),
    ("SystemExit", "a cell called sys.exit()"),
)


def _run_notes(records: list[dict], limits: Limits) -> list[str]:
    found = {words for record in records for marker, words in _RUN_EVENTS if marker in record.get("message", "")}
    return [
        words.format(cell_timeout=limits.cell_timeout, memory_mb=limits.memory_mb)
        for _, words in _RUN_EVENTS
        if words in found
    ]


def _feedback_message(longrepr: str) -> str:
    """The part of nbval's report a student needs: the error, not the cell's source again."""
    if "Kernel dead on test start" in longrepr:
        return "This check could not run: the kernel had died in an earlier cell."
    if "Traceback:" in longrepr:
        longrepr = longrepr.split("Traceback:", 1)[1]
    elif "Input:" in longrepr:  # a timeout or kernel death: nbval's own words come first
        longrepr = longrepr.split("Input:", 1)[0]
    lines = [
        line.rstrip()
        for line in longrepr.strip().splitlines()
        if line.strip()
        and not set(line.strip()) <= {"-"}
        and line.strip() not in ("Notebook cell execution failed", "pytest plugin exception:")
    ]
    lines = [re.sub(r"^(Cell \d+: |pytest plugin exception: )", "", line) for line in lines]
    return "\n".join(lines[-12:])


def _written_answers(nb: nbformat.NotebookNode) -> dict[str, str]:
    return {grade_id(c): c.source for c in nb.cells if cell_role(c) == "manual"}
