"""Self-check helpers: plain-words feedback, one line per pass, no traceback wall."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from course_lib import checks
from course_lib.checks import (
    CheckFailed,
    check_cases,
    check_close,
    check_equal,
    check_raises,
    check_result,
    check_true,
)

ANSI = re.compile(r"\x1b\[")


def failure(call, *args, **kwargs) -> CheckFailed:
    with pytest.raises(CheckFailed) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert not ANSI.search(message), "feedback must not contain colour codes"
    return info.value


# --------------------------------------------------------------------------- the exception


def test_check_failed_is_an_assertion_error() -> None:
    assert issubclass(CheckFailed, AssertionError)


def test_render_traceback_is_just_the_message() -> None:
    error = failure(check_close, 9.0, 9.1, what="percentile([1, 2], 90)", hint="interpolate")
    rendered = error._render_traceback_()
    assert rendered == str(error).splitlines()
    joined = "\n".join(rendered)
    assert "Traceback" not in joined and 'File "' not in joined and not ANSI.search(joined)


def test_ipython_shows_the_feedback_without_a_traceback(tmp_path: Path) -> None:
    # In a separate process, so that IPython's global shell does not leak into other tests.
    script = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "result = shell.run_cell('from course_lib.checks import check_close\\n'\n"
        '                        \'check_close(1.0, 2.0, what="the answer", hint="try harder")\')\n'
        "print('error type:', type(result.error_in_exec).__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "IPYTHONDIR": str(tmp_path)},
    )
    text = done.stdout + done.stderr
    assert "error type: CheckFailed" in text, text
    assert "Check failed: the answer" in text and "hint:     try harder" in text
    assert "Traceback" not in text and "most recent call" not in text and not ANSI.search(text)


def test_parts_are_kept_as_attributes() -> None:
    error = failure(check_equal, 3, 4, what="the count", hint="count again")
    assert (error.what, error.expected, error.actual, error.hint) == ("the count", 4, 3, "count again")


# --------------------------------------------------------------------------- wording


def test_close_failure_says_expected_got_and_hint() -> None:
    message = str(
        failure(check_close, 23.5, 23.0, what="percentile([15, 20, 35, 40, 50], 30)", hint="rank = (n - 1) * q / 100")
    )
    assert message.splitlines() == [
        "✗ Check failed: percentile([15, 20, 35, 40, 50], 30)",
        "  expected: 23.0",
        "  got:      23.5",
        "  hint:     rank = (n - 1) * q / 100",
    ]


def test_missing_return_gets_its_own_hint() -> None:
    message = str(failure(check_close, None, 1.0, what="f()"))
    assert "got:      None" in message and "forget a `return`" in message


def test_sequence_differences_point_at_the_first_one() -> None:
    message = str(failure(check_equal, np.array([1, 2, 4]), [1, 2, 3], what="counts"))
    assert "first difference at position 2: expected 3, got 4" in message
    assert "got:      [1, 2, 4]" in message, "numpy arrays are shown as plain lists"
    message = str(failure(check_close, [1.0], [1.0, 2.0], what="values"))
    assert "1 values instead of 2" in message


def test_long_values_are_shortened() -> None:
    message = str(failure(check_equal, list(range(1000)), [0], what="xs"))
    assert "..." in message and len(message) < 400


def test_check_true_and_check_raises_wording() -> None:
    message = str(failure(check_true, False, "the pool has at least one worker", hint="round up"))
    assert message.splitlines() == ["✗ Check failed: the pool has at least one worker", "  hint:     round up"]
    message = str(failure(check_raises, ValueError, lambda: 1, what="f(-1)", hint="reject negative q"))
    assert "expected ValueError, but it returned 1 without raising" in message and "reject negative q" in message
    message = str(failure(check_raises, ValueError, lambda: 1 / 0, what="f(0)"))
    assert "but it raised ZeroDivisionError: division by zero" in message


# --------------------------------------------------------------------------- passing checks print one line


def test_passes_print_one_short_line(capsys: pytest.CaptureFixture[str]) -> None:
    check_close(0.1 + 0.2, 0.3, what="0.1 + 0.2")
    check_equal(np.array([1, 2]), [1, 2], what="the counts")
    check_true(True, "the cache is warm")
    check_raises(ZeroDivisionError, lambda: 1 / 0, what="1 / 0")
    check_result(sorted, ([3, 1, 2],), [1, 2, 3])
    assert capsys.readouterr().out.splitlines() == [
        "✓ 0.1 + 0.2 is 0.3",
        "✓ the counts is [1, 2]",
        "✓ the cache is warm",
        "✓ 1 / 0 raises ZeroDivisionError",
        "✓ sorted([3, 1, 2]) is [1, 2, 3]",
    ]


def test_check_cases_success_line(capsys: pytest.CaptureFixture[str]) -> None:
    def percentile(samples, q):
        return float(np.percentile(samples, q))

    check_cases(percentile, [([1, 2, 3], q) for q in (0, 10, 50, 90, 100, 33, 66)], np.percentile, against="numpy")
    assert capsys.readouterr().out == "✓ percentile matches numpy on 7 cases\n"


# --------------------------------------------------------------------------- what the student's code did


def not_written(samples, q):
    raise NotImplementedError("Not solved yet: replace this line with your code.")


def divides_by_zero(samples, q):
    count = 0
    return sum(samples) / count


def sorts_in_place(samples, q):
    samples.sort()
    return float(np.percentile(samples, q))


def calls_numpy(samples, q):
    return float(np.percentile(samples, q))


def test_unwritten_function_is_explained() -> None:
    message = str(failure(check_cases, not_written, [([1, 2], 50)], np.percentile))
    assert "`not_written` is not written yet" in message
    assert "replace the `raise NotImplementedError(...)` line" in message
    message = str(failure(check_result, not_written, ([1, 2], 50), 1.5))
    assert "is not written yet" in message


def test_errors_in_the_students_code_name_the_line() -> None:
    message = str(
        failure(check_cases, divides_by_zero, [([1, 2], 50)], np.percentile, against="numpy", hint="no division needed")
    )
    assert "divides_by_zero([1, 2], 50)" in message
    assert "it raised ZeroDivisionError: division by zero" in message
    assert "`return sum(samples) / count`" in message and "numpy gives 1.5" in message
    assert "hint:     no division needed" in message


def test_modified_inputs_are_caught() -> None:
    message = str(failure(check_cases, sorts_in_place, [([3.0, 1.0, 2.0], 50)], np.percentile))
    assert "changed its argument 1: it was [3.0, 1.0, 2.0] before the call and [1.0, 2.0, 3.0] after" in message
    assert "work on a copy" in message
    check_cases(sorts_in_place, [([3.0, 1.0, 2.0], 50)], np.percentile, inputs_unchanged=False)


def test_forbidden_calls_are_caught_but_the_reference_may_use_them() -> None:
    message = str(
        failure(
            check_cases,
            calls_numpy,
            [([1.0, 2.0], 50)],
            np.percentile,
            must_not_call=["numpy.percentile", "numpy.quantile"],
        )
    )
    assert "`calls_numpy` called numpy.percentile" in message and "compute the result yourself" in message
    assert np.percentile([1.0, 2.0], 50) == 1.5, "the real function is restored afterwards"
    with pytest.raises(ValueError, match=r"cannot find 'numpy\.no_such_function'"):
        check_cases(calls_numpy, [([1.0], 50)], np.percentile, must_not_call=["numpy.no_such_function"])


def test_wrong_answer_in_check_cases_names_the_case_and_reference() -> None:
    message = str(failure(check_cases, lambda s, q: 0.0, [([1, 3], 50)], np.percentile, against="numpy.percentile"))
    assert "<lambda>([1, 3], 50) vs numpy.percentile" in message
    assert "expected: 2.0" in message and "got:      0.0" in message


def test_tolerances() -> None:
    check_close(1.0 + 1e-12, 1.0, what="almost one", quiet=True)
    failure(check_close, 1.001, 1.0, what="too far")
    check_close(1.001, 1.0, what="loose", rel=1e-2, quiet=True)
    check_close(float("nan"), float("nan"), what="nan", quiet=True)


# --------------------------------------------------------------------------- call_alone: the student's code alone

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="call_alone forks only on Linux")


@linux_only
def test_call_alone_runs_without_the_other_threads() -> None:
    import threading

    stop = threading.Event()
    busy = threading.Thread(target=stop.wait, daemon=True)
    busy.start()
    try:
        assert threading.active_count() >= 2
        assert checks.call_alone(threading.active_count) == 1
        assert checks.call_alone(lambda: os.getpid()) != os.getpid()
    finally:
        stop.set()
        busy.join()


@linux_only
def test_call_alone_keeps_other_threads_out_of_tracemalloc() -> None:
    """A thread that allocates all the time shows up in tracemalloc's snapshots, except under call_alone."""
    import threading
    import time
    import tracemalloc

    stop = threading.Event()
    kept: list[bytes] = []

    def allocate() -> None:
        while not stop.is_set():
            kept.append(b"x" * 1000)
            stop.wait(0.0005)

    def growth_in_this_file() -> int:
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            time.sleep(0.05)  # lets the other thread run (in this process it would allocate)
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        return sum(
            s.size_diff
            for s in after.compare_to(before, "lineno")
            if s.size_diff > 0 and s.traceback[0].filename == __file__ and s.traceback[0].lineno != 0
        )

    noise = threading.Thread(target=allocate, daemon=True)
    noise.start()
    try:
        assert checks.call_alone(growth_in_this_file) == 0
    finally:
        stop.set()
        noise.join()


@linux_only
def test_call_alone_passes_back_errors_output_and_nothing_else(capsys: pytest.CaptureFixture[str]) -> None:
    state = {"calls": 0}

    def noisy(x: int) -> int:
        state["calls"] += 1
        print("working on", x)
        return x * 2

    assert checks.call_alone(noisy, 21) == 42
    assert capsys.readouterr().out == "working on 21\n"
    assert state["calls"] == 0, "the child's changes stay in the child"
    with pytest.raises(NotImplementedError):
        checks.call_alone(not_written, [1], 50)
    with pytest.raises(ZeroDivisionError) as info:
        checks.call_alone(divides_by_zero, [1], 50)
    assert any("return sum(samples) / count" in note for note in getattr(info.value, "__notes__", []))
    with pytest.raises(RuntimeError, match="cannot be sent back"):
        checks.call_alone(lambda: lambda: None)
    with pytest.raises(RuntimeError, match="without an answer"):
        checks.call_alone(os._exit, 3)
