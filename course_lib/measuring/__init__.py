"""Measuring (module 02 and every lesson): time a function properly, and summarise samples.

- :mod:`course_lib.measuring.harness`: :func:`measure` and :func:`compare` (warm-up, repeats,
  interleaving);
- :mod:`course_lib.measuring.results`: what they give back, :class:`Measurement` and
  :class:`Comparison` (a median and its bootstrap interval, printed, as HTML, plotted);
- :mod:`course_lib.measuring.stats`: percentiles and bootstrap intervals.
"""
