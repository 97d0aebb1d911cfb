"""The test suite reports every notebook's wall time and peak memory, and enforces the ceilings.

Hypothesis's per-example deadline is a wall-clock assertion: the suite runs beside bursty CPU
load (course_tools/suite.py), where any example can be slow, so the property tests run without it.
"""

pytest_plugins = ["course_tools.notebook_budget"]

try:
    from hypothesis import settings
except ImportError:  # installed with the test extra only
    pass
else:
    settings.register_profile("course", deadline=None)
    settings.load_profile("course")
