"""Performance fundamentals (module 01): :mod:`course_lib.fundamentals.queueing` simulates and
computes queues, fan-out, Amdahl's law and the Universal Scalability Law."""
