"""The prose promises only what is there: a module the course has not written yet is named as
"in preparation" (as the course map in 00_start_here shows it), never as if a learner could open it."""

import json
import re
from pathlib import Path

import pytest

from course_lib.course_map import WITHOUT_LESSON

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for folder in ("notebooks", "solutions", "exercises") for p in (ROOT / folder).glob("*.ipynb"))
MENTION = re.compile(r"\b[Mm]odules? (\d\d)\b")
WINDOW = 120  # characters after the mention in which "in preparation" must stand


def written(number: str) -> bool:
    """A lesson, or an exercise in a module that has no lesson by design (the capstone, 07)."""
    lessons = any((ROOT / "notebooks").glob(f"{number}_*.ipynb"))
    return lessons or (number in WITHOUT_LESSON and any((ROOT / "exercises").glob(f"{number}_*.ipynb")))


def unwritten_mentions(text: str) -> list[str]:
    """The mentions of unwritten modules in ``text`` not followed closely by "in preparation"."""
    return [
        text[m.start() : m.end() + 40].replace("\n", " ")
        for m in MENTION.finditer(text)
        if not written(m.group(1)) and "in preparation" not in text[m.end() : m.end() + WINDOW]
    ]


def test_the_check_sees_a_bare_promise():
    assert written("00") and written("07")
    assert unwritten_mentions("Module 99 drives a real server.") == ["Module 99 drives a real server."]
    assert unwritten_mentions("module 99 (load testing, in preparation) drives it") == []
    assert unwritten_mentions("as module 01 showed") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_unwritten_modules_are_named_as_in_preparation(path):
    cells = json.loads(path.read_text())["cells"]
    bad = [
        (i, mention)
        for i, cell in enumerate(cells)
        if cell["cell_type"] == "markdown"
        for mention in unwritten_mentions("".join(cell["source"]))
    ]
    assert not bad, (
        f"{path.relative_to(ROOT)} names modules that do not exist yet as if they did "
        f"(cell, text): {bad}; add '(..., in preparation)' or drop the reference"
    )
