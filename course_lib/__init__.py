"""Shared library of the course: measuring harness, sample services, grading tools.

Each module follows one topic of the course; notebooks import what they need, e.g.
``from course_lib.measuring.harness import measure, compare``.
"""

__version__ = "0.1.0"
