"""Every ``>>>`` example in ``course_lib`` and ``course_tools`` runs, module by module.

A module whose source shows an example must have doctest find and run it: an example hidden
from doctest (inside a string doctest does not read) would never be checked.
"""

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import course_lib
import course_tools

MODULES = sorted(
    info.name
    for package in (course_lib, course_tools)
    for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + ".")
    if not info.name.endswith("__main__")
) + ["course_lib", "course_tools"]


def test_the_library_has_examples():
    assert sum(">>>" in Path(importlib.import_module(m).__file__).read_text() for m in MODULES) >= 20


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    module = importlib.import_module(name)
    shown = Path(module.__file__).read_text().count(">>>")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see above)"
    assert result.attempted >= shown, f"{name} shows {shown} examples but doctest ran {result.attempted}"
