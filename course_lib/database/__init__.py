"""Database optimisation (module 03): :mod:`course_lib.database.querycount` counts the statements
a block sends, finds N+1 patterns and logs slow queries. The sample domain, its app and the
plan reader are in :mod:`course_lib.bookstore`, which modules 03 to 05 share."""
