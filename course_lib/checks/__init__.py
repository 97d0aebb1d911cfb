"""Self-checks in plain words: one home for every check a student runs or a grader restores.

- :mod:`course_lib.checks.core`: :class:`CheckFailed` (an ``AssertionError`` whose message says
  what was expected, what came back and a hint) and the checks of a value (:func:`check_equal`,
  :func:`check_close`, :func:`check_true`, :func:`check_raises`);
- :mod:`course_lib.checks.calls`: the checks that call the student's function
  (:func:`check_result`, :func:`check_cases`) and :func:`spying`;
- :mod:`course_lib.checks.alone`: :func:`call_alone`, the student's code run where no other
  thread of the kernel runs (for checks that measure memory);
- :mod:`course_lib.checks.probe`: :func:`~course_lib.checks.probe.probe`, which hands a check's
  values to the grader (compared with the reference solution's outside the student's kernel), and
  :func:`~course_lib.checks.probe.grading_rng` for inputs drawn anew at each grading run;
- one module per topic: :mod:`course_lib.checks.fundamentals` (exercise 01),
  :mod:`course_lib.checks.profiling` (exercise 02), :mod:`course_lib.checks.database`
  (exercise 03), :mod:`course_lib.checks.caching`
  (exercise 04), :mod:`course_lib.checks.monitoring` (exercise 05) and
  :mod:`course_lib.checks.resilience` (exercise 06).

A check cell of an exercise imports everything it uses from here (or from elsewhere in
``course_lib``) and calls nothing else but the student's answers: a helper defined in a
notebook cell is a helper the student can change (``tests/test_check_cells.py`` enforces it).

The general names are importable from here: ``from course_lib.checks import check_cases``.
"""

from course_lib.checks.alone import call_alone
from course_lib.checks.calls import check_cases, check_result, spying
from course_lib.checks.core import CheckFailed, check_close, check_equal, check_raises, check_true, passed

__all__ = [
    "CheckFailed",
    "call_alone",
    "check_cases",
    "check_close",
    "check_equal",
    "check_raises",
    "check_result",
    "check_true",
    "passed",
    "spying",
]
