"""Self-checks for exercise notebooks: a failure explained in plain words, a pass in one line.

A self-check cell calls these helpers instead of writing bare ``assert`` statements. When
a check fails it raises :class:`CheckFailed`, whose message says what was checked, what was
expected, what came back and a hint; Jupyter shows just that message (no traceback). When
it passes it prints one line, so the student sees progress::

    >>> check_close(0.1 + 0.2, 0.3, what="0.1 + 0.2")
    ✓ 0.1 + 0.2 is 0.3
    >>> check_equal([1, 2], [1, 3], what="the counts", hint="count each value once")
    Traceback (most recent call last):
    ...
    course_lib.checks.core.CheckFailed: ✗ Check failed: the counts
      expected: [1, 3]
      got:      [1, 2] (first difference at position 1: expected 3, got 2)
      hint:     count each value once

``CheckFailed`` is an ``AssertionError``, so ``pytest --nbval-lax`` and the grader count it
as a failed cell like any other assertion. Messages never contain colour codes.
"""

from __future__ import annotations

import math
import reprlib
import traceback
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "CheckFailed",
    "check_close",
    "check_equal",
    "check_true",
    "check_raises",
    "passed",
]

_NOT_IMPLEMENTED_HINT = (
    "replace the `raise NotImplementedError(...)` line in the answer cell with your code, then run that cell again"
)


class CheckFailed(AssertionError):
    """A self-check failed. ``str(error)`` is the plain-words explanation.

    The parts are kept as attributes (``what``, ``expected``, ``actual``, ``hint``) for
    tools that want them; any of them may be ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        what: str | None = None,
        expected: Any = None,
        actual: Any = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.what, self.expected, self.actual, self.hint = what, expected, actual, hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def _render_traceback_(self) -> list[str]:
        """What IPython/Jupyter shows instead of a traceback: just the explanation."""
        return self.message.splitlines()


def passed(message: str) -> None:
    """Print the one-line success note of a check: ``✓ message``."""
    print(f"✓ {message}")


def _describe(value: Any) -> str:
    """A short, readable repr: numpy arrays and scalars as plain Python values, long ones cut."""
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and type(value).__module__ == "numpy":
        value = tolist()
    if isinstance(value, float):
        return repr(value)
    short = reprlib.Repr()
    short.maxlist = short.maxtuple = 12
    short.maxstring = short.maxother = 80
    short.maxlevel = 3
    return short.repr(value)


def _failure(
    what: str, *, expected: Any = None, actual: Any = None, hint: str = "", detail: str = "", show_values: bool = True
) -> CheckFailed:
    lines = [f"✗ Check failed: {what}"]
    if show_values:
        lines.append(f"  expected: {_describe(expected)}")
        lines.append(f"  got:      {_describe(actual)}" + (f" ({detail})" if detail else ""))
    elif detail:
        lines.append(f"  {detail}")
    if hint:
        lines.append(f"  hint:     {hint}")
    return CheckFailed("\n".join(lines), what=what, expected=expected, actual=actual, hint=hint or None)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _is_sequence(value: Any) -> bool:
    if isinstance(value, str | bytes | dict) or getattr(value, "ndim", 1) == 0:
        return False
    return hasattr(value, "__len__") and hasattr(value, "__getitem__")


def _missing_return_hint(actual: Any, hint: str) -> str:
    if actual is None:
        return "your code returned None: did you forget a `return` statement?" + (f" Also: {hint}" if hint else "")
    return hint


def check_close(
    actual: Any,
    expected: Any,
    *,
    what: str,
    hint: str = "",
    rel: float = 1e-9,
    abs: float = 1e-12,
    quiet: bool = False,
) -> None:
    """Check that a number (or each number of a sequence) is close to the expected one.

    Close means ``math.isclose(actual, expected, rel_tol=rel, abs_tol=abs)``. ``what``
    names the thing checked ("percentile([1, 2, 3], 50)"); ``hint`` is shown on failure.
    """
    if _is_sequence(expected):
        if not _is_sequence(actual):
            raise _failure(
                what,
                expected=expected,
                actual=actual,
                detail=f"a sequence of {len(expected)} numbers was expected, got {type(actual).__name__}",
                hint=_missing_return_hint(actual, hint),
            )
        if len(actual) != len(expected):
            raise _failure(
                what,
                expected=expected,
                actual=actual,
                detail=f"{len(actual)} values instead of {len(expected)}",
                hint=hint,
            )
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            number = _as_number(a)
            if number is None or not _isclose(number, float(e), rel, abs):
                raise _failure(what, expected=expected, actual=actual, detail=_first_difference(index, e, a), hint=hint)
    else:
        number = _as_number(actual)
        if number is None:
            raise _failure(
                what,
                expected=expected,
                actual=actual,
                detail=f"a number was expected, not {type(actual).__name__}",
                hint=_missing_return_hint(actual, hint),
            )
        if not _isclose(number, float(expected), rel, abs):
            raise _failure(what, expected=expected, actual=actual, hint=hint)
    if not quiet:
        passed(f"{what} is {_describe(expected)}")


def _first_difference(index: int, expected: Any, actual: Any) -> str:
    return f"first difference at position {index}: expected {_describe(expected)}, got {_describe(actual)}"


def _isclose(a: float, e: float, rel: float, abs_: float) -> bool:
    if math.isnan(e):
        return math.isnan(a)
    return math.isclose(a, e, rel_tol=rel, abs_tol=abs_)


def check_equal(actual: Any, expected: Any, *, what: str, hint: str = "", quiet: bool = False) -> None:
    """Check that ``actual == expected`` (sequences, numpy arrays included, compare item by item)."""
    equal = _equal(actual, expected)
    if not equal:
        detail = ""
        if _is_sequence(actual) and _is_sequence(expected):
            a, e = list(_plain(actual)), list(_plain(expected))
            if len(a) != len(e):
                detail = f"{len(a)} values instead of {len(e)}"
            else:
                index = next(i for i, (x, y) in enumerate(zip(a, e, strict=True)) if not _equal(x, y))
                detail = _first_difference(index, e[index], a[index])
        raise _failure(what, expected=expected, actual=actual, detail=detail, hint=_missing_return_hint(actual, hint))
    if not quiet:
        passed(f"{what} is {_describe(expected)}")


def _equal(actual: Any, expected: Any) -> bool:
    """Equality that treats arrays, tuples and lists alike (item by item) and NaN as equal to NaN."""
    if _is_sequence(actual) and _is_sequence(expected):
        a, e = list(_plain(actual)), list(_plain(expected))
        return len(a) == len(e) and all(_equal(x, y) for x, y in zip(a, e, strict=True))
    if _is_sequence(actual) or _is_sequence(expected):
        return False
    if _is_nan(actual) and _is_nan(expected):
        return True
    try:
        return bool(actual == expected)
    except (TypeError, ValueError):
        return False


def _is_nan(value: Any) -> bool:
    number = _as_number(value)
    return number is not None and math.isnan(number)


def _plain(values: Iterable[Any]) -> Iterable[Any]:
    tolist = getattr(values, "tolist", None)
    return tolist() if callable(tolist) else values


def check_true(condition: Any, message: str, *, hint: str = "", success: str | None = None) -> None:
    """Check that ``condition`` holds; ``message`` says in plain words what should be true.

    On success prints ``success`` (default: ``message``).
    """
    if not condition:
        lines = [f"✗ Check failed: {message}"] + ([f"  hint:     {hint}"] if hint else [])
        raise CheckFailed("\n".join(lines), what=message, hint=hint or None)
    passed(success or message)


def check_raises(
    exception: type[BaseException] | tuple[type[BaseException], ...],
    func: Callable[..., Any],
    *args: Any,
    what: str,
    hint: str = "",
    **kwargs: Any,
) -> None:
    """Check that ``func(*args, **kwargs)`` raises ``exception``."""
    names = " or ".join(e.__name__ for e in (exception if isinstance(exception, tuple) else (exception,)))
    try:
        result = func(*args, **kwargs)
    except exception:
        passed(f"{what} raises {names}")
        return
    except NotImplementedError as err:
        raise _not_implemented(func, what) from err
    except Exception as err:
        raise _failure(
            what, show_values=False, hint=hint, detail=f"expected {names}, but it raised {_error_summary(err)}"
        ) from err
    raise _failure(
        what,
        show_values=False,
        hint=hint,
        detail=f"expected {names}, but it returned {_describe(result)} without raising",
    )


def _name(func: Callable[..., Any]) -> str:
    return getattr(func, "__name__", None) or repr(func)


def _not_implemented(func: Callable[..., Any], what: str) -> CheckFailed:
    return _failure(
        what,
        show_values=False,
        hint=_NOT_IMPLEMENTED_HINT,
        detail=f"`{_name(func)}` is not written yet (it still raises NotImplementedError)",
    )


def _error_summary(err: BaseException) -> str:
    """``ZeroDivisionError: division by zero (line 7: `return total / n`)``."""
    text = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    frames = traceback.extract_tb(err.__traceback__)
    if frames and frames[-1].line:
        text += f" (line {frames[-1].lineno}: `{frames[-1].line.strip()}`)"
    return text
