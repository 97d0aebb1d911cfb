"""House rules that a tool can check: ruff's lint and format check over the library, the tools and the
tests (rules and line length in pyproject.toml), and imports that flow one way only."""

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")


def _ruff(*args: str) -> subprocess.CompletedProcess:
    if RUFF is None:
        pytest.fail("ruff is not installed: pip install -e '.[test]' installs it")
    return subprocess.run([RUFF, *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_finds_nothing_to_lint():
    result = _ruff("check", "--output-format", "concise", ".")
    assert result.returncode == 0, f"ruff check (fix with `ruff check --fix .`):\n{result.stdout}{result.stderr}"


def test_ruff_format_leaves_everything_as_it_is():
    result = _ruff("format", "--check", ".")
    assert result.returncode == 0, f"ruff format --check (fix with `ruff format .`):\n{result.stdout}{result.stderr}"


def _imported_modules(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _code_of(notebook: Path) -> str:
    """A notebook's code cells as Python (IPython turns magics and shell escapes into calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    cells = json.loads(notebook.read_text())["cells"]
    return "\n".join(
        TransformerManager().transform_cell("".join(c["source"])) for c in cells if c["cell_type"] == "code"
    )


LESSON_SIDE = sorted(
    [*ROOT.glob("course_lib/**/*.py")]
    + [p for folder in ("notebooks", "solutions", "exercises") for p in (ROOT / folder).glob("*.ipynb")]
)


@pytest.mark.parametrize("path", LESSON_SIDE, ids=lambda p: str(p.relative_to(ROOT)))
def test_lessons_and_their_library_never_import_the_tools(path):
    source = _code_of(path) if path.suffix == ".ipynb" else path.read_text()
    tools = sorted(m for m in _imported_modules(source) if m.split(".")[0] == "course_tools")
    assert not tools, f"{path.relative_to(ROOT)} imports {tools}: course_lib and notebooks must not use course_tools"


def test_importing_the_library_loads_no_tool():
    code = "import sys, course_lib; print(sorted(m for m in sys.modules if m.startswith('course_tools')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_cell_format_is_at_the_bottom_of_the_tools():
    imported = _imported_modules((ROOT / "course_tools" / "cells.py").read_text())
    assert not {m for m in imported if m.startswith(("course_tools", "course_lib"))}
    rubrics = _imported_modules((ROOT / "course_tools" / "rubrics.py").read_text())
    assert "course_tools.authoring" not in rubrics, "rubrics must not import authoring (authoring imports rubrics)"
