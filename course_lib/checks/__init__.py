"""Self-checks in plain words: one home for every check a student runs or a grader restores.

- :mod:`course_lib.checks.core`: the general checks (:func:`check_result`, :func:`check_cases`,
  :func:`check_equal`, :func:`check_close`, :func:`check_true`, :func:`check_raises`) and
  :class:`CheckFailed`, an ``AssertionError`` whose message says what was expected, what came
  back and a hint;
- :mod:`course_lib.checks.alone`: :func:`call_alone`, the student's code run where no other
  thread of the kernel runs (for checks that measure memory);
- one module per topic: :mod:`course_lib.checks.fundamentals` (exercise 01),
  :mod:`course_lib.checks.database` (exercise 03), :mod:`course_lib.checks.caching`
  (exercise 04) and :mod:`course_lib.checks.monitoring` (exercise 05).

A check cell of an exercise imports everything it uses from here (or from elsewhere in
``course_lib``) and calls nothing else but the student's answers: a helper defined in a
notebook cell is a helper the student can change (``tests/test_check_cells.py`` enforces it).

The general names are importable from here: ``from course_lib.checks import check_cases``.
"""

from course_lib.checks.alone import call_alone
from course_lib.checks.core import *  # noqa: F403 - the general checks, as listed in core.__all__
from course_lib.checks.core import __all__ as _core_all

__all__ = [*_core_all, "call_alone"]
