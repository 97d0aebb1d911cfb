"""The test suite reports every notebook's wall time and peak memory, and enforces the ceilings."""

pytest_plugins = ["course_lib.notebook_budget"]
