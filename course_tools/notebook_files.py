"""Reading and writing notebooks the way the course stores them: validated, without outputs, stable text."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from course_tools.cells import AuthoringError

__all__ = ["read_notebook", "notebook_to_text", "write_notebook"]


def read_notebook(path: Path | str) -> NotebookNode:
    """Read a notebook, refusing one whose cells lack ids (nbformat would invent random ones)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    raw = json.loads(text)
    for index, cell in enumerate(raw.get("cells", [])):
        if "id" not in cell:
            raise AuthoringError(
                f"{path.name}, cell {index}: the cell has no id. Save the notebook with nbformat 4.5 "
                "or newer (JupyterLab 4 does) so every cell has a stable id."
            )
    return nbformat.reads(text, as_version=nbformat.NO_CONVERT)


def notebook_to_text(nb: NotebookNode) -> str:
    """The notebook as deterministic JSON: nbformat's writer (indent 1, sorted keys) plus a final newline."""
    text = nbformat.writes(nb, version=nbformat.NO_CONVERT)
    return text if text.endswith("\n") else text + "\n"


def write_notebook(nb: NotebookNode, path: Path | str) -> bool:
    """Write ``nb`` to ``path`` unless the file already holds exactly that text; True if written."""
    return _write_if_changed(Path(path), notebook_to_text(nb))


def _write_if_changed(path: Path, text: str) -> bool:
    data = text.encode("utf-8")
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True
