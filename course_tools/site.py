"""The course as a static web site: the executed lessons, built with Jupyter Book 1.

From the repository root::

    make site                              # the same as: python -m course_tools.site
    python -m course_tools.site --execute    # first run lessons with no (or an out-of-date) executed copy

The site follows the course map of ``course_lib.course_map`` (module order; in each module the
lesson, then its labs, then the exercise; the index page shows the same table as README.md) and
is written to ``build/site/`` (open ``build/site/index.html``). Nothing is executed by the site
build: the lesson pages show the outputs of the notebooks as ``make test`` ran them, from the
copies it keeps under ``build/executed/notebooks/``. A lesson without an executed copy stops the
build with a message saying what to run; one whose copy no longer matches its source cells
(edited since) is shown as executed, with a warning. ``--execute`` runs those lessons here
instead (one kernel each, in the lesson's folder; the copies are kept under
``build/executed-site/`` for the next build). Exercise pages are the student notebooks of
``exercises/``, without outputs.

The Jupyter Book sources (``_config.yml``, ``_toc.yml``, ``index.md`` and copies of the
notebooks) are generated into ``build/site-src/`` on every build; the repository holds no book
configuration of its own.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import nbformat
import yaml

from course_lib.course_map import Module, course_map, course_table

TITLE = "Performance engineering and monitoring of Python web back ends"


class SiteError(RuntimeError):
    """The site cannot be built; the message says why and what to do."""


def _sources(notebook: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in notebook.cells]


def executed_lessons(root: Path, folders: list[Path], lessons: list[Path]) -> tuple[dict[Path, Path], list[Path]]:
    """Map each lesson to its executed copy: the first up-to-date one (its cells' sources equal
    the lesson's) in ``folders``, else the first copy found. Also return the lessons whose copy
    is out of date (changed since the run); lessons with no copy at all are left out of the map."""
    found, stale = {}, []
    for lesson in lessons:
        relative = lesson.relative_to(root)
        copies = [folder / relative for folder in folders if (folder / relative).is_file()]
        sources = _sources(nbformat.read(lesson, as_version=4))
        fresh = [copy for copy in copies if _sources(nbformat.read(copy, as_version=4)) == sources]
        if fresh or copies:
            found[lesson] = (fresh or copies)[0]
        if copies and not fresh:
            stale.append(lesson)
    return found, stale


def execute_lessons(root: Path, lessons: list[Path], target: Path, timeout: int = 90) -> dict[Path, Path]:
    """Execute ``lessons`` (one fresh kernel each, in the lesson's folder, as the test suite and
    JupyterLab run them) and write the executed notebooks under ``target``."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    done = {}
    for lesson in lessons:
        notebook = nbformat.read(lesson, as_version=4)
        print(f"executing {lesson.relative_to(root)} ...", flush=True)
        try:
            NotebookClient(
                notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(lesson.parent)}}
            ).execute()
        except CellExecutionError as error:
            raise SiteError(
                f"{lesson.relative_to(root)} failed while executing, so it has no page: "
                f"{error.ename}: {error.evalue or '(no message)'}. Run it in JupyterLab or with "
                f"`pytest --nbval-lax {lesson.relative_to(root)}` to see where."
            ) from None
        copy = target / lesson.relative_to(root)
        copy.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, copy)
        done[lesson] = copy
    return done


def _config() -> dict:
    return {
        "title": TITLE,
        "author": "the course authors",
        "copyright": "",
        "only_build_toc_files": True,
        "exclude_patterns": ["_build", "**.ipynb_checkpoints"],
        # The lessons were executed by the test suite; the site only renders what they showed.
        "execute": {"execute_notebooks": "off"},
        "html": {
            "use_repository_button": False,
            "use_issues_button": False,
            "use_edit_page_button": False,
            "use_multitoc_numbering": False,
            "home_page_in_navbar": True,
        },
        "repository": {"url": "https://github.com/OWNER/REPO", "branch": "main"},  # placeholder, as in README
        "sphinx": {
            "config": {
                "html_show_copyright": False,
                "html_show_sphinx": False,
                "nb_merge_streams": True,
                "nb_render_markdown_format": "myst",
                "suppress_warnings": ["myst.domains", "myst.header"],
            }
        },
    }


def _toc(modules: list[Module]) -> dict:
    parts = []
    for module in modules:
        chapters = [{"file": f"notebooks/{lesson.stem}"} for lesson in module.lessons]
        if module.shown_exercise:
            chapters.append({"file": f"exercises/{module.shown_exercise.stem}"})
        if chapters:
            parts.append({"caption": module.caption, "chapters": chapters})
    return {"format": "jb-book", "root": "index", "parts": parts}


def _index(modules: list[Module]) -> str:
    return "\n".join(
        [
            f"# {TITLE}",
            "",
            "A Jupyter course on making Python web back ends (FastAPI, a SQL database, Redis, Prometheus)",
            "fast and observable, by measuring rather than believing.",
            "",
            "These pages show each lesson **as the course's test suite last ran it**: every number and",
            "plot in them was measured on that machine, not on yours. Run the notebooks yourself (see",
            "*Start here*) to measure your own. Exercise pages show the student notebooks without outputs.",
            "",
            "## Course map",
            "",
            course_table(modules),
            "",
        ]
    )


def write_book_source(root: Path, src: Path, modules: list[Module], executed: dict[Path, Path]) -> None:
    """Generate the Jupyter Book source folder ``src``: configuration, table of contents, the
    index page, the executed lessons and the exercises."""
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    (src / "exercises").mkdir()
    for module in modules:
        for lesson in module.lessons:
            shutil.copyfile(executed[lesson.path], src / "notebooks" / lesson.name)
        if module.shown_exercise:
            shutil.copyfile(module.shown_exercise.path, src / "exercises" / module.shown_exercise.name)
    (src / "_config.yml").write_text(yaml.safe_dump(_config(), sort_keys=False))
    (src / "_toc.yml").write_text(yaml.safe_dump(_toc(modules), sort_keys=False))
    (src / "index.md").write_text(_index(modules))


def build_site(
    root: Path, out: Path | None = None, executed: Path | None = None, execute: bool = False, quiet: bool = True
) -> Path:
    """Build the site of the course in ``root`` into ``out`` (default ``build/site``) and return
    the path of its ``index.html``. Raises :class:`SiteError` when a lesson has no executed copy
    under ``executed`` (default ``build/executed``) and ``execute`` is false."""
    from jupyter_book.sphinx import build_sphinx

    root = root.resolve()
    if not (root / "notebooks").is_dir():
        raise SiteError(f"{root} has no notebooks/ folder: run this from the course repository (or pass --root).")
    out = (out or root / "build" / "site").resolve()
    executed = (executed or root / "build" / "executed").resolve()
    modules = course_map(root)
    lessons = [lesson.path for module in modules for lesson in module.lessons]
    executed_here = root / "build" / "executed-site"  # where --execute keeps what it ran
    found, stale = executed_lessons(root, [executed, executed_here], lessons)
    missing = [lesson for lesson in lessons if lesson not in found]
    if execute:
        found.update(execute_lessons(root, missing + stale, executed_here))
    elif missing:
        raise SiteError(
            "The site shows executed lessons, and these have no executed copy in "
            f"{executed}:\n  "
            + "\n  ".join(str(lesson.relative_to(root)) for lesson in missing)
            + "\nRun `make test` first (it keeps the executed notebooks under build/executed/), "
            "or `make site SITE_ARGS=--execute` to run just these lessons now."
        )
    else:
        for lesson in stale:
            print(
                f"warning: {lesson.relative_to(root)} changed since it was executed; its page shows the "
                "executed version (run `make test`, or pass --execute, to refresh it)",
                file=sys.stderr,
            )
    for lesson, copy in found.items():
        if any(
            output.output_type == "error"
            for cell in nbformat.read(copy, as_version=4).cells
            for output in cell.get("outputs", [])
        ):
            print(
                f"warning: {lesson.relative_to(root)} raised an error in the run that executed it; "
                "its page shows the traceback",
                file=sys.stderr,
            )
    src = root / "build" / "site-src"
    write_book_source(root, src, modules, found)
    if out.exists():
        shutil.rmtree(out)
    # What `jupyter-book build build/site-src` does, with the output folder of our choosing.
    status = build_sphinx(
        src,
        out,
        path_config=str(src / "_config.yml"),
        noconfig=True,
        freshenv=True,
        confoverrides={"external_toc_path": (src / "_toc.yml").as_posix(), "latex_individualpages": False},
        doctreedir=src / "_build" / "doctrees",
        quiet=quiet,
    )
    if status != 0:
        raise SiteError(f"Jupyter Book (Sphinx) failed with {status!r}; its messages are above.")
    return out / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.site", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the course repository (default: here)")
    parser.add_argument("--out", type=Path, help="output folder (default: ROOT/build/site)")
    parser.add_argument("--executed", type=Path, help="executed notebooks (default: ROOT/build/executed)")
    parser.add_argument(
        "--execute", action="store_true", help="execute the lessons that have no executed copy, or an out-of-date one"
    )
    parser.add_argument("--verbose", action="store_true", help="show Sphinx's progress messages too")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        index = build_site(args.root, args.out, args.executed, args.execute, quiet=not args.verbose)
    except SiteError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"site built in {time.perf_counter() - start:.1f} s: open {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
