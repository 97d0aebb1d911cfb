"""The whole test suite, as `make test` runs it, in three steps:

1. ``pytest`` on the unit tests and every lesson and solution notebook, with the backends the
   environment names (real PostgreSQL/Redis in CI, embedded elsewhere); executed copies of the
   notebooks are kept under ``build/executed/``;
2. when a service URL is set, the notebooks that use a service (notebook metadata
   ``course.services``) once more on the embedded backends, so both paths are proven;
3. ``pytest -m site``: the tests that need step 1's executed notebooks (static site, browser).

Extra arguments go to step 1 (``make test PYTEST_ARGS="-k harness"``). Exit status: the first
failing step's, else 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICE_VARIABLES = ("COURSE_DATABASE_URL", "COURSE_REDIS_URL", "COURSE_PROMETHEUS_URL")


def service_notebooks() -> list[str]:
    """Lessons and solutions whose metadata says they use a service."""
    found = []
    for path in sorted([*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("solutions/*.ipynb")]):
        if json.loads(path.read_text()).get("metadata", {}).get("course", {}).get("services"):
            found.append(str(path.relative_to(ROOT)))
    return found


def pytest(title: str, args: list[str], env: dict[str, str] | None = None) -> int:
    print(f"\n=== {title}: pytest {' '.join(args)}", flush=True)
    return subprocess.call([sys.executable, "-m", "pytest", *args], cwd=ROOT, env=env)


def main(argv: list[str]) -> int:
    codes = [pytest("unit tests and notebooks", ["-m", "not site", *argv])]
    real = [name for name in SERVICE_VARIABLES if os.environ.get(name)]
    notebooks = service_notebooks()
    if real and notebooks:
        embedded = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
        embedded.update(COURSE_REPORT_APPEND="1", COURSE_EXECUTED_DIR=str(ROOT / "build" / "executed-embedded"))
        codes.append(pytest("service notebooks again, on the embedded backends", notebooks, embedded))
    if any("mark.site" in path.read_text() for path in (ROOT / "tests").glob("test_*.py")):
        codes.append(pytest("static site and browser", ["-m", "site", "-n", "0", "tests"],
                            {**os.environ, "COURSE_REPORT_APPEND": "1"}))
    return next((code for code in codes if code), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
