"""Shared library of the course: measuring harness, sample services, grading tools.

Each module follows one topic of the course; notebooks import what they need, e.g.
``from course_lib.measuring.harness import measure, compare``. The course's own outline (its
modules, and each notebook's title, time, questions and objectives) is ``course_lib.course_map``.
"""

__version__ = "0.1.0"
