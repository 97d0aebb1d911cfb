"""The static site (`make site`): built from the executed notebooks of this run, one page per
lesson with its plots, and a table of contents that follows the course map.

Marked ``site``: course_tools/suite.py runs these after the notebooks ran (step 4), so the
executed copies under build/executed/ exist and are current."""

from __future__ import annotations

import base64
import functools
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from test_course_map import small_course, write_lesson

from course_lib.course_map import MODULES
from course_tools import site

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "build" / "site"
EXECUTED = ROOT / "build" / "executed"

pytestmark = [
    pytest.mark.site,  # in-process builds: Jupyter Book's LaTeX helper uses an old docutils call
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:sphinx_jupyterbook_latex.*"),
]


class _Page(HTMLParser):
    """The links and images of one HTML page."""

    def __init__(self, path: Path):
        super().__init__()
        self.links: list[str] = []
        self.images: list[str] = []
        self.nav_links: list[str] = []
        self._nav_depth = 0
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "nav":
            self._nav_depth += 1
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
            if self._nav_depth:
                self.nav_links.append(attributes["href"])
        if tag == "img" and attributes.get("src"):
            self.images.append(attributes["src"])

    def handle_endtag(self, tag):
        if tag == "nav" and self._nav_depth:
            self._nav_depth -= 1


def _png_outputs(notebook: Path) -> int:
    nb = nbformat.read(notebook, as_version=4)
    return sum("image/png" in output.get("data", {}) for cell in nb.cells for output in cell.get("outputs", []))


@functools.cache
def _build_site() -> Path:
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "course_tools.site"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, f"the site build failed:\n{run.stdout}\n{run.stderr}"
    print(f"site built in {time.perf_counter() - start:.1f} s")
    return SITE


@pytest.fixture(scope="session")
def built_site() -> Path:
    """The site, built once per session (tests/test_browser.py imports this fixture too) with
    the README's command (`python -m course_tools.site`, which `make site` runs)."""
    return _build_site()


def test_every_lesson_has_a_page_with_its_plots(built_site):
    lessons = [lesson for module in site.course_map(ROOT) for lesson in module.lessons]
    assert lessons, "no lesson notebooks found"
    for lesson in lessons:
        page = built_site / "notebooks" / f"{lesson.stem}.html"
        assert page.is_file(), f"{lesson.name} has no page at {page}"
        expected = _png_outputs(EXECUTED / "notebooks" / lesson.name)
        images = [src for src in _Page(page).images if "_images/" in src or src.startswith("data:image/png")]
        assert len(images) >= expected, (
            f"{page.name} shows {len(images)} plots; the executed notebook has {expected} PNG outputs"
        )
        for src in images:
            if src.startswith("data:"):
                assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
            else:
                image = (page.parent / src).resolve()
                assert image.is_file() and image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{src} is not a PNG"


def test_a_lesson_with_plots_exists_to_check():
    """Guards the test above against passing vacuously: at least one lesson draws a plot."""
    assert any(_png_outputs(path) for path in (EXECUTED / "notebooks").glob("*.ipynb"))


def test_the_table_of_contents_links_every_lesson_in_course_map_order(built_site):
    modules = site.course_map(ROOT)
    pages = [f"notebooks/{lesson.stem}.html" for module in modules for lesson in module.lessons]
    nav = [re.sub(r"[#?].*", "", href) for href in _Page(built_site / "index.html").nav_links]
    positions = []
    for page in pages:
        assert page in nav, f"the site's table of contents has no link to {page}"
        positions.append(nav.index(page))
    assert positions == sorted(positions), "the table of contents is not in course-map order"
    exercises = [f"exercises/{m.shown_exercise.stem}.html" for m in modules if m.shown_exercise]
    for page in exercises:
        assert page in nav and (built_site / page).is_file(), f"no exercise page {page} in the table of contents"


def test_the_index_lists_every_module(built_site):
    text = (built_site / "index.html").read_text(encoding="utf-8")
    for number, title in MODULES.items():
        assert f"{number} {title}".replace("&", "&amp;") in text


def test_the_book_config_does_not_execute_notebooks(built_site):
    import yaml

    config = yaml.safe_load((ROOT / "build" / "site-src" / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"


def test_the_table_of_contents_puts_the_lab_after_the_lesson_and_the_exercise_last(tmp_path):
    toc = site._toc(site.course_map(small_course(tmp_path)))
    assert [part["caption"] for part in toc["parts"]] == ["02 Profiling and benchmarking"]
    assert toc["parts"][0]["chapters"] == [
        {"file": "notebooks/02_profiling"},
        {"file": "notebooks/02_lab_claims"},
        {"file": "exercises/02_profiling"},
    ]


def test_a_missing_executed_copy_stops_the_build_with_what_to_run(tmp_path):
    write_lesson(tmp_path / "notebooks" / "01_x.ipynb")
    with pytest.raises(site.SiteError, match="make test"):
        site.build_site(tmp_path, executed=tmp_path / "nothing")


def test_execute_runs_what_has_no_copy_and_an_edited_lesson_is_shown_as_it_ran(tmp_path, capsys):
    lesson = tmp_path / "notebooks" / "01_x.ipynb"
    cells = [nbformat.v4.new_markdown_cell("# 01 X"), nbformat.v4.new_code_cell("print(6 * 7)")]
    write_lesson(lesson, cells)
    index = site.build_site(tmp_path, execute=True)
    page = (index.parent / "notebooks" / "01_x.html").read_text()
    assert "42" in page and (tmp_path / "build" / "executed-site" / "notebooks" / "01_x.ipynb").is_file()

    cells[1].source = "print(7 * 8)"
    write_lesson(lesson, cells)
    site.build_site(tmp_path)
    assert "01_x.ipynb changed since it was executed" in capsys.readouterr().err
    assert "42" in (index.parent / "notebooks" / "01_x.html").read_text()
