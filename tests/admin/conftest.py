"""The grader's session fixtures (defined in classroom.py, with the helpers the tests import)."""
from classroom import graded_class, graded_honest  # noqa: F401
