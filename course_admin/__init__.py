"""Instructor and maintainer tools: notebook sync/execute, the student edition, the grader, reference runs.

Students never import this package; `course_utils` never imports it.
"""
