"""The course as a person meets it, in a real browser: Debian's Chromium, driven by Playwright.

- JupyterLab started with the README's command (`make lab`, on 127.0.0.1 with a temporary
  token), the start-here notebook opened, *Run > Run All Cells* (command `runmenu:run-all`)
  clicked, the environment check's output awaited, no error output allowed;
- the static site (`make site`): its index and a lesson page with plots.

Screenshots go to build/screenshots/ (a CI artifact). Skipped with a reason where /usr/bin/chromium
or the playwright package is missing, except with CI=true, where that fails the test: `.ci/run`
installs Chromium. Playwright never downloads a browser here (no `playwright install`).
Marked ``site``: course_tools/suite.py runs it after the notebooks, reusing the site build.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from needs import skip_or_fail
from test_site import built_site  # noqa: F401  (the session fixture that builds the site once)

from course_tools import site

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The "official Jupyter news" toast would cover the notebook; this plugin shows it.
ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"
KERNEL_READY = """() => { const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
                   && panel.sessionContext.session.kernel;
    return !!kernel && panel.sessionContext.isReady && kernel.connectionStatus === 'connected'
           && kernel.status === 'idle'; }"""
STDERR_MIME = "application/vnd.jupyter.stderr"  # Lab renders tracebacks and stderr with this type

pytestmark = pytest.mark.site


def _require_browser() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (Debian: apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[test]')")
    if missing:
        skip_or_fail("the browser test needs " + " and ".join(missing))


@pytest.fixture(scope="module")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page that may talk to 127.0.0.1 only (a CDN font or script is refused, not awaited)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.route(re.compile(r"^(?!https?://(127\.0\.0\.1|localhost)[:/]).*"), lambda route: route.abort())
    try:
        yield context.new_page()
    finally:
        context.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(folder: Path, plugin: str, values: dict) -> None:
    package, name = plugin.rsplit(":", 1)
    target = folder / package / f"{name}.jupyterlab-settings"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(values))


@contextlib.contextmanager
def running_lab(tmp: Path) -> Iterator[tuple[str, str]]:
    """`make lab` on a free port of 127.0.0.1 with a random token; yields its base URL and the
    token. Settings, workspaces, checkpoints and runtime files live in ``tmp`` (the repository is
    not written to: autosave is off). On exit the server is asked to shut down (its kernels
    with it), then its process group and any leftover kernel are killed."""
    port, token = _free_port(), secrets.token_hex(16)
    config, settings = tmp / "config", tmp / "settings"
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(json.dumps({"disabledExtensions": {ANNOUNCEMENTS: True}}))
    _settings(settings, "@jupyterlab/docmanager-extension:plugin", {"autosave": False})
    _settings(settings, "@jupyterlab/apputils-extension:notification", {"fetchNews": "false", "checkForUpdates": False})
    _settings(settings, "@jupyterlab/notebook-extension:tracker", {"autoStartDefaultKernel": True})
    args = [
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        "--no-browser",
        f"--IdentityProvider.token={token}",
        f"--LabApp.user_settings_dir={settings}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: to wait until the kernel is connected
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        f"--FileCheckpoints.checkpoint_dir={tmp / 'checkpoints'}",
    ]
    if os.geteuid() == 0:
        args.append("--allow-root")
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "JUPYTER_DATA_DIR": str(tmp / "data"),
    }  # the notebook-signing key and database go there
    log_path = tmp / "lab.log"
    # -o: the test runs inside the installed .venv, so `make` must not reinstall it mid-test.
    command = [
        "make",
        "--no-print-directory",
        "-o",
        ".venv/.installed",
        "lab",
        "LAB_ARGS=" + " ".join(shlex.quote(a) for a in args),
    ]
    base = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        lab = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 90
        while True:
            assert lab.poll() is None, f"`make lab` exited with {lab.returncode}:\n{log_path.read_text()}"
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2).close()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert time.monotonic() < deadline, f"JupyterLab did not answer in 90 s:\n{log_path.read_text()}"
                time.sleep(0.5)
        yield base, token
    finally:
        with contextlib.suppress(psutil.Error):
            children = psutil.Process(lab.pid).children(recursive=True)  # kernels run in sessions of their own
        with contextlib.suppress(OSError):
            request = urllib.request.Request(
                f"{base}/api/shutdown", method="POST", headers={"Authorization": f"token {token}"}
            )
            urllib.request.urlopen(request, timeout=10).close()
        try:
            lab.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(lab.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                lab.wait(timeout=10)
                break
        _, alive = psutil.wait_procs(children, timeout=10)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        if alive and sys.exc_info()[0] is None:
            raise AssertionError(f"processes left after JupyterLab shut down (now killed): {alive}")


@contextlib.contextmanager
def _screenshot_on_failure(page, name: str) -> Iterator[None]:
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=SCREENSHOTS / name)
        raise


def test_start_here_runs_in_jupyterlab_without_errors(page, tmp_path):
    start = time.perf_counter()
    code_cells = sum(
        cell["cell_type"] == "code"
        for cell in json.loads((ROOT / "notebooks" / "00_start_here.ipynb").read_text())["cells"]
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with running_lab(tmp_path) as (base, token), _screenshot_on_failure(page, "lab_failure.png"):
        # The same path as the Binder link's urlpath: Lab serves the repository root.
        page.goto(f"{base}/lab/tree/notebooks/00_start_here.ipynb?token={token}")
        page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=90_000)
        # Run All before the kernel is connected runs nothing (or asks for a kernel): wait for it.
        page.wait_for_function(KERNEL_READY, timeout=90_000)
        page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
        page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
        # Every code cell has run when each prompt shows its execution count, none "[*]" or "[ ]".
        page.wait_for_function(
            """n => { const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                       .map(p => p.textContent.trim());
                     return prompts.length === n && prompts.every(t => /^\\[\\d+\\]:$/.test(t)); }""",
            arg=code_cells,
            timeout=180_000,
        )
        outputs = page.locator(".jp-OutputArea-output")
        report = "\n".join(outputs.all_inner_texts())
        assert "Checked: Python" in report, "the environment check printed nothing"
        errors = page.locator(f'.jp-OutputArea-output[data-mime-type="{STDERR_MIME}"]').all_inner_texts()
        assert not errors, "the notebook showed error output in JupyterLab:\n" + "\n---\n".join(errors)
        assert "No problems found" in report, f"the environment check reported problems:\n{report}"
        assert not page.get_by_text("Jupyter news").count(), "the news toast is showing"
        assert not page.locator(".jp-Dialog").count(), "a dialog is open: " + page.locator(".jp-Dialog").inner_text()
        check = page.locator(".jp-OutputArea-output", has_text="Checked: Python")
        check.scroll_into_view_if_needed()
        page.screenshot(path=SCREENSHOTS / "lab_00_start_here.png")
    print(f"JupyterLab browser test: {time.perf_counter() - start:.1f} s (start, run all, shut down)")


@contextlib.contextmanager
def serving(folder: Path) -> Iterator[str]:
    """A static HTTP server for ``folder`` on 127.0.0.1, in a thread; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002
        pass


def test_the_site_index_and_a_lesson_page_render(page, built_site):  # noqa: F811 (the fixture imported above)
    start = time.perf_counter()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    lessons = [lesson for module in site.course_map(ROOT) for lesson in module.lessons]
    with serving(built_site) as base, _screenshot_on_failure(page, "site_failure.png"):
        page.goto(f"{base}/index.html")
        assert site.TITLE in page.title()
        toc = page.locator("nav.bd-docs-nav")
        for lesson in lessons:
            assert toc.locator(f'a[href$="notebooks/{lesson.stem}.html"]').count(), f"no link to {lesson.stem}"
        page.screenshot(path=SCREENSHOTS / "site_index.png")

        with_plots = [
            lesson
            for lesson in lessons
            if (built_site / "notebooks" / f"{lesson.stem}.html").read_text().count("_images/")
        ]
        assert with_plots, "no lesson page with a plot to look at"
        lesson = with_plots[0]
        page.locator(f'nav.bd-docs-nav a[href$="notebooks/{lesson.stem}.html"]').first.click()
        page.wait_for_url(f"**/notebooks/{lesson.stem}.html")
        figures = page.locator("img[src*='_images/']")
        figures.first.scroll_into_view_if_needed()
        page.wait_for_function(
            "() => [...document.images].filter(i => i.src.includes('_images/'))"
            ".every(i => i.complete && i.naturalWidth > 0)",
            timeout=30_000,
        )
        page.screenshot(path=SCREENSHOTS / "site_lesson.png")
    print(f"site in the browser: {time.perf_counter() - start:.1f} s")


@pytest.mark.parametrize("ci, outcome", [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_a_missing_browser_skips_locally_and_fails_in_ci(monkeypatch, ci, outcome):
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", Path("/nonexistent/chromium"))
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="/nonexistent/chromium"):
        _require_browser()
