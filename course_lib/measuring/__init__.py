"""Measuring (module 02 and every lesson): time a function properly, and summarise samples.

- :mod:`course_lib.measuring.harness`: :func:`measure` and :func:`compare` (warm-up, repeats,
  interleaving, a median and its bootstrap interval);
- :mod:`course_lib.measuring.stats`: percentiles and bootstrap intervals.
"""
