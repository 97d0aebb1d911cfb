"""What a test needs that this machine may lack (a server, a binary, a browser).

Locally a missing need skips the test with a reason that says how to provide it; with
CI=true it fails the test instead, so CI never passes by silently skipping (.ci/run provides
everything these tests need).
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def skip_or_fail(reason: str) -> NoReturn:
    """Skip with ``reason``; under CI=true, fail with it."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; with CI=true this test must run, not skip (.ci/run provides what it needs)")
    pytest.skip(reason)


def required_url(var: str) -> str:
    """The real server's URL from ``var``, or skip (fail under CI=true) when it is not set."""
    url = os.environ.get(var, "").strip()
    if not url:
        skip_or_fail(f"{var} is not set: start the real server on 127.0.0.1 and export {var} to run this test")
    return url
