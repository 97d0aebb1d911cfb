"""Grade a class's exercise notebooks with nbval: one command, in parallel, safely.

Submissions are laid out as ``SUBMISSIONS/<student>/<NN_name>.ipynb``. For each one the
grader copies the notebook into a fresh temporary directory (the original is only read),
puts the canonical test cells back (visible and hidden, by grade id), runs it with
``pytest --nbval-lax`` under a per-cell timeout and a memory cap, and maps each test cell's
result to the rubric's points. See ``course_tools.grading.cli`` for the command and its output.
"""

from course_tools.grading.runner import Assignment, Limits, SubmissionResult, grade_submission

__all__ = ["Assignment", "Limits", "SubmissionResult", "grade_submission"]
