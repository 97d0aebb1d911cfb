"""Checks that call the student's function: :func:`check_result` (one call) and :func:`check_cases`
(many, against a reference), with :func:`spying` to catch a forbidden shortcut (``must_not_call``)."""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, Literal
from unittest import mock

from course_lib.checks.core import (
    _describe,
    _equal,
    _error_summary,
    _failure,
    _name,
    _not_implemented,
    check_close,
    check_equal,
    passed,
)

__all__ = ["check_cases", "check_result", "spying"]


def _call(func: Callable[..., Any], args: Sequence[Any]) -> str:
    return f"{_name(func)}({', '.join(_describe(a) for a in args)})"


def _resolve(dotted: str) -> tuple[Any, str]:
    module_name, _, attr = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except (ImportError, ValueError):
        module = None
    if module is None or not hasattr(module, attr):
        raise ValueError(f"cannot find {dotted!r}: give a dotted name such as 'numpy.percentile'")
    return module, attr


@contextmanager
def spying(targets: Sequence[tuple[str, Any, str]]) -> Iterator[list[str]]:
    """Record calls to the ``(dotted name, module, attribute)`` targets while the block runs."""
    calls: list[str] = []
    with ExitStack() as stack:
        for name, module, attr in targets:
            real = getattr(module, attr)

            def spy(*args: Any, _real: Callable[..., Any] = real, _name: str = name, **kwargs: Any) -> Any:
                calls.append(_name)
                return _real(*args, **kwargs)

            stack.enter_context(mock.patch.object(module, attr, spy))
        yield calls


def _run_case(
    func: Callable[..., Any],
    args: tuple[Any, ...],
    expected: Any,
    *,
    what: str,
    against: str | None,
    compare: Literal["close", "equal"],
    hint: str,
    rel: float,
    abs_: float,
    must_not_call: Sequence[str],
    inputs_unchanged: bool,
) -> None:
    """Call ``func(*args)`` and compare with ``expected``; raise :class:`CheckFailed` explaining any problem."""
    before = copy.deepcopy(args) if inputs_unchanged else args
    targets = [(name, *_resolve(name)) for name in must_not_call]
    try:
        with spying(targets) as calls:
            actual = func(*args)
    except NotImplementedError as err:
        raise _not_implemented(func, what) from err
    except Exception as err:
        source = f"{against} gives" if against else "expected"
        raise _failure(
            what,
            show_values=False,
            hint=hint,
            detail=f"it raised {_error_summary(err)}; {source} {_describe(expected)}",
        ) from err
    if calls:
        used = ", ".join(sorted(set(calls)))
        raise _failure(
            what,
            show_values=False,
            detail=f"`{_name(func)}` called {used}; this task asks you to compute the result yourself",
            hint=f"write the steps out instead of calling {used}",
        )
    if inputs_unchanged:
        for position, (old, new) in enumerate(zip(before, args, strict=True), start=1):
            if not _equal(new, old):
                raise _failure(
                    what,
                    show_values=False,
                    detail=f"`{_name(func)}` changed its argument {position}: it was "
                    f"{_describe(old)} before the call and {_describe(new)} after",
                    hint="do not modify the caller's data: work on a copy "
                    "(sorted(samples) returns a new list; samples.sort() changes the caller's)",
                )
    label = f"{what} vs {against}" if against else what
    if compare == "close":
        check_close(actual, expected, what=label, hint=hint, rel=rel, abs=abs_, quiet=True)
    else:
        check_equal(actual, expected, what=label, hint=hint, quiet=True)


def check_result(
    func: Callable[..., Any],
    args: Sequence[Any],
    expected: Any,
    *,
    what: str | None = None,
    compare: Literal["close", "equal"] = "equal",
    hint: str = "",
    rel: float = 1e-9,
    abs: float = 1e-12,
    must_not_call: Sequence[str] = (),
    inputs_unchanged: bool = True,
) -> None:
    """Check that ``func(*args)`` returns ``expected``, explaining any failure in plain words.

    Prefer this to ``check_equal(func(...), ...)`` in a self-check: it also explains a
    function that is not written yet, raises an error, or changes its arguments. ``what``
    names the call in messages (default: the call with its arguments, shortened).
    """
    call_args = tuple(args)
    what = what or _call(func, call_args)
    _run_case(
        func,
        call_args,
        expected,
        what=what,
        against=None,
        compare=compare,
        hint=hint,
        rel=rel,
        abs_=abs,
        must_not_call=must_not_call,
        inputs_unchanged=inputs_unchanged,
    )
    passed(f"{what} is {_describe(expected)}")


def check_cases(
    func: Callable[..., Any],
    cases: Iterable[Sequence[Any]],
    reference: Callable[..., Any],
    *,
    against: str = "the reference",
    compare: Literal["close", "equal"] = "close",
    hint: str = "",
    rel: float = 1e-9,
    abs: float = 1e-12,
    must_not_call: Sequence[str] = (),
    inputs_unchanged: bool = True,
) -> None:
    """Call ``func(*case)`` and ``reference(*case)`` for each case and compare the results.

    Stops at the first case that differs (or raises) and explains it; on success prints
    one line such as ``✓ percentile matches numpy.percentile on 7 cases``. ``against``
    names the reference in messages. ``compare="equal"`` compares exactly (after turning
    arrays into lists), ``"close"`` with ``rel``/``abs`` tolerances.

    ``must_not_call`` lists functions (dotted names, e.g. ``"numpy.percentile"``) that
    ``func`` must not use; calls made through the module attribute are detected. With
    ``inputs_unchanged`` (the default) the check also fails if ``func`` modifies its
    arguments, e.g. sorts the caller's list in place.
    """
    all_args = [tuple(case) for case in cases]
    for args in all_args:
        expected = reference(*copy.deepcopy(args))
        _run_case(
            func,
            args,
            expected,
            what=_call(func, args),
            against=against,
            compare=compare,
            hint=hint,
            rel=rel,
            abs_=abs,
            must_not_call=must_not_call,
            inputs_unchanged=inputs_unchanged,
        )
    count = len(all_args)
    passed(f"{_name(func)} matches {against} on {count} case{'s' if count != 1 else ''}")
