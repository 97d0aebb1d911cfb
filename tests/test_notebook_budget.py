"""The notebook budget plugin reports wall time and memory, and fails a notebook over a ceiling."""

import json
import os
import subprocess
import sys

import nbformat
import pytest


def _run(tmp_path, source: str, **ceilings: str) -> subprocess.CompletedProcess:
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), tmp_path / "nb.ipynb")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "COURSE_REPORT_DIR": str(tmp_path / "reports"), **ceilings}
    return subprocess.run([sys.executable, "-m", "pytest", "nb.ipynb", "-p", "course_lib.notebook_budget",
                           "--nbval-lax", "--nbval-current-env", "-p", "no:xdist", "-p", "no:cacheprovider"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_notebook_within_budget_passes_and_is_reported(tmp_path):
    run = _run(tmp_path, "x = sum(range(1000))")
    assert run.returncode == 0, run.stdout
    [row] = [json.loads(line) for line in (tmp_path / "reports" / "notebooks.jsonl").read_text().splitlines()]
    assert row["notebook"] == "nb.ipynb" and row["cells"] == 1
    assert 0 < row["seconds"] < 90 and 10 < row["peak_mib"] < 1024
    assert "| nb.ipynb |" in (tmp_path / "reports" / "notebooks.md").read_text()


@pytest.mark.parametrize("source, ceiling, words", [
    ("import time; time.sleep(1.5)", {"COURSE_CEILING_SECONDS": "1"}, "the hard ceiling is 1 s"),
    ("block = bytearray(300 * 2**20); block[::4096] = b'x' * len(block[::4096])", {"COURSE_CEILING_MIB": "200"},
     "the ceiling is 200 MiB"),
])
def test_a_notebook_over_a_ceiling_fails(tmp_path, source, ceiling, words):
    run = _run(tmp_path, source, **ceiling)
    assert run.returncode == 1
    assert "is over budget" in run.stdout and words in run.stdout
