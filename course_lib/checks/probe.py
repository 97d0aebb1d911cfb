"""Probes: what a graded check hands to the grader, so that the verdict is reached outside your kernel.

A check cell that grades ends with :func:`probe`: it hands over the values your functions returned
(plain data: numbers, strings, booleans, ``None``, lists, tuples and dicts of them, NumPy and
pandas values converted to those). When your notebook is graded, the grader runs the reference
solution's notebook on the same inputs in a separate kernel and compares the two sets of values in
its own process, which your code never runs in; a check cannot be passed there without computing
the right values. Inputs that hidden checks draw from :func:`grading_rng` are drawn anew for each
grading run, so they cannot be known in advance.

While you work, :func:`probe` only checks that the value is plain data and prints nothing; the
plain-words self-checks above it in the cell say what is wrong.

>>> probe("example", [1, 2.5, (3, "x"), {"k": None}])
>>> plain({"a": (1, 2)})
{'a': [1, 2]}
>>> grading_seed()  # outside grading: a fixed seed, so a hidden check's inputs are reproducible
20260101
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

#: Set by the grader in the kernel's environment: the prefix of a probe line, and the inputs' seed.
PREFIX_VARIABLE = "COURSE_GRADE_PROBE"
SEED_VARIABLE = "COURSE_GRADE_SEED"
DEFAULT_SEED = 20260101


class NotPlainData(TypeError):
    """A probed value that is not plain data (numbers, strings, booleans, None, lists, dicts)."""


def plain(value: Any) -> Any:
    """``value`` as JSON-ready plain data: tuples become lists, NumPy and pandas values Python ones.

    Anything else raises :class:`NotPlainData`, with the type's name: an object of your own class
    is not compared, whatever its ``==`` says.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {_key(key): plain(item) for key, item in value.items()}
    module = type(value).__module__.split(".")[0]
    if module == "numpy" and hasattr(value, "tolist"):
        return plain(value.tolist())
    if module == "pandas" and hasattr(value, "to_dict"):
        return plain(value.to_dict(orient="list") if hasattr(value, "columns") else value.tolist())
    raise NotPlainData(
        f"a check can only compare plain data, not {type(value).__name__}: return numbers, lists or dicts"
    )


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool | int | float) or key is None:
        return json.dumps(key)
    if isinstance(key, tuple):
        return json.dumps(plain(key))
    raise NotPlainData(f"a dict key must be a string, a number or a tuple of them, not {type(key).__name__}")


def probe(name: str, value: Any) -> None:
    """Hand ``value`` to the grader under ``name`` (silent, and only validated, outside grading)."""
    line = json.dumps({"name": name, "value": plain(value)}, allow_nan=True, sort_keys=True)
    prefix = os.environ.get(PREFIX_VARIABLE)
    if prefix:
        print(f"{prefix} {line}", flush=True)


def grading_seed() -> int:
    """The seed of this grading run (a fixed one outside grading)."""
    return int(os.environ.get(SEED_VARIABLE, DEFAULT_SEED))


def grading_rng():
    """A NumPy generator seeded for this grading run: hidden checks draw their inputs from it."""
    import numpy as np

    return np.random.default_rng(grading_seed())


# --------------------------------------------------------------------------- the grader's side


def read_probes(text: str, prefix: str) -> list[dict]:
    """The probes in a cell's output (lines that start with ``prefix``), in order; others ignored."""
    found = []
    for line in text.splitlines():
        if line.startswith(prefix + " "):
            try:
                entry = json.loads(line[len(prefix) + 1 :])
            except ValueError:
                entry = {"name": "?", "value": "<unreadable probe line>"}
            found.append(entry if isinstance(entry, dict) else {"name": "?", "value": entry})
    return found


def same(actual: Any, expected: Any, rel: float = 1e-6, abs_: float = 1e-9) -> bool:
    """Plain data equal, numbers within a tolerance; booleans only equal booleans; NaN equals NaN.

    >>> same([1, 2.0000000001, {"a": None}], [1.0, 2, {"a": None}])
    True
    >>> same(True, 1), same([1, 2], [1, 2, 3]), same(float("nan"), float("nan"))
    (False, False, True)
    """
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        if math.isnan(expected) or math.isnan(actual):
            return math.isnan(expected) and math.isnan(actual)
        return math.isclose(actual, expected, rel_tol=rel, abs_tol=abs_)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(actual) == len(expected) and all(same(a, e, rel, abs_) for a, e in zip(actual, expected))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return actual.keys() == expected.keys() and all(same(actual[k], expected[k], rel, abs_) for k in expected)
    return type(actual) is type(expected) and actual == expected


def first_difference(actual: list[dict], expected: list[dict]) -> str | None:
    """Where two probe lists first differ, in words (``None`` if they agree)."""
    if len(actual) != len(expected):
        return f"{len(actual)} values handed over, {len(expected)} expected"
    for a, e in zip(actual, expected):
        if a.get("name") != e.get("name"):
            return f"expected {e.get('name')!r} next, got {a.get('name')!r}"
        if not same(a.get("value"), e.get("value")):
            return _value_difference(e["name"], a.get("value"), e.get("value"))
    return None


def _value_difference(name: str, actual: Any, expected: Any) -> str:
    if isinstance(expected, list) and isinstance(actual, list) and len(actual) == len(expected):
        for index, (a, e) in enumerate(zip(actual, expected)):
            if not same(a, e):
                return f"{name}, case {index + 1} of {len(expected)}: expected {_short(e)}, got {_short(a)}"
    return f"{name}: expected {_short(expected)}, got {_short(actual)}"


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 120 else text[:117] + "..."
