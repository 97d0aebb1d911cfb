"""Files the grader writes: created fresh, never through a link someone left in their place.

A symbolic link planted where ``grades.csv`` or a feedback file will go (by a student who could
once write to the output folder, or by anyone sharing it) would make the grader overwrite the
file it points to. Here an existing entry is removed and the file created anew with
``O_EXCL | O_NOFOLLOW``; a folder on the way that is a symbolic link is refused with a clear error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO


class UnsafeOutput(RuntimeError):
    """An output folder is a symbolic link: the grader will not write through it."""


def output_folder(path: Path) -> Path:
    """``path`` as a real folder (made if missing); refused if it, or a parent made here, is a link."""
    if path.is_symlink():
        raise UnsafeOutput(f"{path} is a symbolic link; remove it or choose another --out folder")
    path.mkdir(parents=True, exist_ok=True)
    return path


def open_fresh(path: Path, mode: str = "w", **kwargs) -> IO:
    """Open ``path`` for writing as a new regular file (what was there, file or link, is removed first)."""
    output_folder(path.parent)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    return os.fdopen(fd, mode, **kwargs)


def write_fresh(path: Path, text: str) -> None:
    """``path.write_text(text)``, through :func:`open_fresh`."""
    with open_fresh(path) as f:
        f.write(text)
