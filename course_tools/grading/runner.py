"""Grade one submission: read it safely, restore the tests, run it with nbval.

The assembled notebook (the student's cells and the canonical tests, hidden ones included) goes
to a grading worker (:mod:`course_tools.grading.worker`): a long-lived process of the grader's
that runs ``pytest --nbval-lax`` against a fresh kernel started in the submission's sandbox
(:mod:`course_tools.grading.sandbox`) and limits (:mod:`course_tools.grading.confine`), with a
per-cell timeout and a hard deadline for the whole notebook.
"""

from __future__ import annotations

import atexit
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_lib.checks.probe import PREFIX_VARIABLE, SEED_VARIABLE, first_difference
from course_tools.authoring import make_grading_template
from course_tools.cells import cell_role, grade_id
from course_tools.grading.assemble import assemble
from course_tools.grading.forbidden import forbidden_uses, written_before_checks
from course_tools.grading.sandbox import sandbox_for_run
from course_tools.grading.worker import Job, Workers
from course_tools.rubrics import Rubric, rubric_for

HIDDEN_MARKER = "### BEGIN HIDDEN TESTS"


@dataclass(frozen=True)
class Limits:
    """How much one submission may use. Defaults suit the course's small exercises."""

    cell_timeout: int = 60  # seconds per cell
    memory_mb: int = 2048  # memory of the whole submission (the kernel and all it starts), and of each process
    submission_timeout: int = 900  # seconds for the whole notebook, kernel start included
    processes: int = 256  # processes and threads of the whole submission at once
    file_mb: int = 256  # largest file the submission may write


class ReferenceFailed(RuntimeError):
    """The reference solution does not pass its own checks: nothing can be graded against it."""


@dataclass
class Assignment:
    """What grading one exercise needs: the grading template, the rubric and the reference solution.

    ``seed`` (the inputs hidden checks draw) and ``probe_prefix`` are chosen anew each time an
    exercise is loaded for grading; :meth:`expected` runs the reference solution once with them and
    keeps the values each trusted check hands over (:mod:`course_lib.checks.probe`).
    """

    name: str
    template: nbformat.NotebookNode
    rubric: Rubric
    hidden: frozenset[str]  # grade ids of test cells whose canonical source holds hidden tests
    solution: nbformat.NotebookNode | None = None
    seed: int = field(default_factory=lambda: secrets.randbelow(2**31))
    probe_prefix: str = field(default_factory=lambda: f"COURSE-PROBE-{secrets.token_hex(8)}")
    _expected: dict[str, list[dict]] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, name: str, solutions: Path, rubrics: Path) -> Assignment:
        """The exercise ``name``: its solution notebook, and its rubric YAML if there is one (else the
        points in the notebook's nbgrader metadata); a rubric that disagrees with the notebook is an error."""
        solution_path = solutions / f"{name}.ipynb"
        if not solution_path.exists():
            raise FileNotFoundError(f"{solution_path} not found: grading '{name}' needs its solution notebook")
        solution = nbformat.read(solution_path, as_version=4)
        hidden = frozenset(grade_id(c) for c in solution.cells if cell_role(c) == "test" and HIDDEN_MARKER in c.source)
        rubric = rubric_for(solution, rubrics / f"{name}.yml")
        return cls(name, make_grading_template(solution), rubric, hidden, solution)

    @property
    def trusted(self) -> frozenset[str]:
        """Grade ids of the checks decided outside the student's kernel (they hand values to probe())."""
        return frozenset(item.grade_id for item in self.rubric.autograded if not item.in_process)

    @property
    def kernel_env(self) -> tuple[tuple[str, str], ...]:
        return ((PREFIX_VARIABLE, self.probe_prefix), (SEED_VARIABLE, str(self.seed)))

    def expected(self, limits: Limits, workers: Workers | None = None) -> dict[str, list[dict]]:
        """The values the reference solution hands to each trusted check (run once, then kept)."""
        with self._lock:
            if self._expected is None:
                self._expected = self._run_reference(limits, workers)
            return self._expected

    def _run_reference(self, limits: Limits, workers: Workers | None) -> dict[str, list[dict]]:
        if not self.trusted:
            return {}
        if self.solution is None:
            raise ReferenceFailed(f"{self.name}: no reference solution to compare the trusted checks with")
        records, problem = run_nbval(self.solution, limits, workers, self.kernel_env, self.probe_prefix)
        by_id = {record["grade_id"]: record for record in records if record.get("grade_id")}
        for gid in sorted(self.rubric.autograded_points):
            record = by_id.get(gid)
            why = problem or ("its cell did not run" if record is None else _feedback_message(record["message"]))
            if record is None or record["outcome"] != "passed":
                raise ReferenceFailed(f"solutions/{self.name}.ipynb fails its own check {gid!r}: {why[-600:]}")
            if gid in self.trusted and not record["probes"]:
                raise ReferenceFailed(f"solutions/{self.name}.ipynb: check {gid!r} handed no value to probe()")
        return {gid: by_id[gid]["probes"] for gid in self.trusted}


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

    @classmethod
    def from_dict(cls, data: dict) -> SubmissionResult:
        """The inverse of ``dataclasses.asdict`` (results kept by ``course-grade --resume``)."""
        cells = {gid: CellResult(**cell) for gid, cell in data["cells"].items()}
        return cls(data["student"], data["assignment"], data["status"], cells, dict(data["answers"]))


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


_default_workers: Workers | None = None
_default_lock = threading.Lock()


def default_workers() -> Workers:
    """One worker for grading outside :func:`~course_tools.grading.cli.grade_class` (tests, scripts)."""
    global _default_workers
    with _default_lock:
        if _default_workers is None:
            _default_workers = Workers(1)
            atexit.register(_default_workers.close)
        return _default_workers


def run_nbval(
    nb: nbformat.NotebookNode,
    limits: Limits,
    workers: Workers | None = None,
    env: tuple[tuple[str, str], ...] = (),
    probe_prefix: str | None = None,
) -> tuple[list[dict], str | None]:
    """Run ``nb`` under ``pytest --nbval-lax`` with the guard plugin; (cell results, problem).

    In the bubblewrap sandbox when there is one. The worker waits for the kernel, never for the
    end of its output, and kills it at ``limits.submission_timeout``.
    """
    job = Job(
        notebook=nbformat.writes(nb),
        cell_timeout=limits.cell_timeout,
        submission_timeout=limits.submission_timeout,
        memory_mb=limits.memory_mb,
        processes=limits.processes,
        file_mb=limits.file_mb,
        box=sandbox_for_run(),
        env=env,
        probe_prefix=probe_prefix,
    )
    return (workers or default_workers()).run(job)


def grade_submission(
    student: str, path: Path, assignment: Assignment, limits: Limits = Limits(), workers: Workers | None = None
) -> SubmissionResult:
    """Grade one file. Never raises: whatever goes wrong becomes the result's status."""
    result = SubmissionResult(student, assignment.name, "graded")
    for gid, points in assignment.rubric.autograded_points.items():
        result.cells[gid] = CellResult(gid, "not run", 0.0, float(points))
    try:
        nb, result.status = read_submission(path)
        if nb is None:
            return result
        result.answers = _written_answers(nb)
        expected = assignment.expected(limits, workers)
        graded = assemble(nb, assignment.template)
        records, problem = run_nbval(graded, limits, workers, assignment.kernel_env, assignment.probe_prefix)
        _score(result, records, assignment, expected)
        _forbid(result, graded, assignment)
        notes = _run_notes(records, limits) + ([problem] if problem else [])
        if any(c.outcome == "not run" for c in result.cells.values()):
            notes.append("some checks did not run")
        result.status = "; ".join([result.status, *notes])
    except ReferenceFailed:
        raise  # the exercise is broken, not the submission: stop the class with the reason
    except Exception as error:  # a grader bug must cost one row, never the class
        result.status = f"grader error: {error.__class__.__name__}: {error}"
    return result


#: Feedback comes only from the grader's side: a student's code could put any text (a hidden
#: test's source, for one) into an error message, so no message from the kernel is shown.
FAILED_VISIBLE = "This check failed when your notebook was graded: run its cell in your notebook to read why."
FAILED_HIDDEN = "A hidden test failed."
KERNEL_DEAD = "This check could not run: the kernel had died in an earlier cell."
NO_VALUES = (
    "The check handed no values to the grader: its cell stopped before probe(...), or your code changed "
    "what the cell prints."
)


def _score(result: SubmissionResult, records: list[dict], assignment: Assignment, expected: dict) -> None:
    for record in records:
        cell = result.cells.get(record.get("grade_id"))
        if cell is None or cell.outcome != "not run":
            continue
        hidden = cell.grade_id in assignment.hidden
        ran = record["outcome"] == "passed"
        message = "" if ran else (FAILED_HIDDEN if hidden else FAILED_VISIBLE)
        if "Kernel dead on test start" in record.get("message", ""):
            message = KERNEL_DEAD
        if ran and cell.grade_id in expected:  # a trusted check: the values decide, compared here
            difference = first_difference(record["probes"], expected[cell.grade_id])
            if not record["probes"]:
                message = NO_VALUES
            elif difference:
                message = f"{FAILED_HIDDEN} ({difference.split(':')[0]} differs)" if hidden else difference
        cell.outcome = "failed" if message else "passed"
        cell.points = 0.0 if message else cell.max_points
        cell.message = message


def _forbid(result: SubmissionResult, graded: nbformat.NotebookNode, assignment: Assignment) -> None:
    """A check whose rubric forbids a name that the student's code above it uses earns nothing (static,
    in the grader: :mod:`course_tools.grading.forbidden`)."""
    context = [cell.source for cell in graded.cells if cell.cell_type == "code"]
    before = written_before_checks(graded, assignment.template)
    for item in assignment.rubric.autograded:
        used = forbidden_uses(before.get(item.grade_id, []), item.forbidden, context) if item.forbidden else []
        cell = result.cells[item.grade_id]
        if used and cell.outcome == "passed":
            cell.outcome, cell.points = "failed", 0.0
            cell.message = f"Your code uses {', '.join(used)}, which this task does not allow."


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
        return KERNEL_DEAD
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
