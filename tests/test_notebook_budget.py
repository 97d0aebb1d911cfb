"""The notebook budget plugin reports wall time and memory, and fails a notebook over a ceiling."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest


def _run(tmp_path, source: str, **ceilings: str) -> subprocess.CompletedProcess:
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), tmp_path / "nb.ipynb")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "COURSE_REPORT_DIR": str(tmp_path / "reports"), **ceilings}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "nb.ipynb",
            "-p",
            "course_tools.notebook_budget",
            "--nbval-lax",
            "--nbval-current-env",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_notebook_within_budget_passes_and_is_reported(tmp_path):
    run = _run(tmp_path, "print(sum(range(1000)))")
    assert run.returncode == 0, run.stdout
    executed = nbformat.read(tmp_path / "build" / "executed" / "nb.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "499500\n"
    [row] = [json.loads(line) for line in (tmp_path / "reports" / "notebooks.jsonl").read_text().splitlines()]
    assert row["notebook"] == "nb.ipynb" and row["cells"] == 1
    assert 0 < row["seconds"] < 90 and 10 < row["peak_mib"] < 1024
    assert "| nb.ipynb |" in (tmp_path / "reports" / "notebooks.md").read_text()


@pytest.mark.parametrize(
    "source, ceiling, words",
    [
        ("import time; time.sleep(1.5)", {"COURSE_CEILING_SECONDS": "1"}, "the hard ceiling is 1 s"),
        (
            "block = bytearray(300 * 2**20); block[::4096] = b'x' * len(block[::4096])",
            {"COURSE_CEILING_MIB": "200"},
            "the ceiling is 200 MiB",
        ),
    ],
)
def test_a_notebook_over_a_ceiling_fails(tmp_path, source, ceiling, words):
    run = _run(tmp_path, source, **ceiling)
    assert run.returncode == 1
    assert "is over budget" in run.stdout and words in run.stdout


def test_the_suite_keeps_each_notebook_on_one_worker(tmp_path):
    """pytest-xdist's default distribution would split a notebook's cells across kernels, so the
    second cell would not see the first one's variable; the suite's --dist loadfile keeps them."""
    for name in ("a", "b"):
        cells = [nbformat.v4.new_code_cell("x = 1"), *(nbformat.v4.new_code_cell("x += 1") for _ in range(5))]
        nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / f"{name}.ipynb")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "a.ipynb",
            "b.ipynb",
            "--nbval-lax",
            "--nbval-current-env",
            "-n",
            "2",
            "--dist",
            "loadfile",
            "-p",
            "no:cacheprovider",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    addopts = pyproject["tool"]["pytest"]["ini_options"]["addopts"]
    assert "--dist loadfile" in addopts
