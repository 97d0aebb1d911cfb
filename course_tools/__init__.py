"""The instructor's and maintainer's tools; lessons never import them (course_lib is the lessons' library).

Imports flow one way, from the top of this list to the bottom, and none into ``course_lib``:

- :mod:`course_tools.suite`, :mod:`course_tools.stress`, :mod:`course_tools.bursty_load`: the test
  suite as ``make test`` runs it, beside bursty CPU load, and ``make stress``;
- :mod:`course_tools.site`: the static site (``make site``);
- :mod:`course_tools.notebook_budget`: the pytest plugin for notebook wall time and memory;
- :mod:`course_tools.grading`: the class grader (``course-grade``);
- :mod:`course_tools.authoring`: student notebooks from solutions (``course-exercises``);
- :mod:`course_tools.rubrics`: rubric files, checked against their notebooks;
- :mod:`course_tools.notebook_files`: reading and writing notebooks as the course stores them;
- :mod:`course_tools.cells`: the cell format (markers, roles, grade ids, points), at the bottom.
"""
