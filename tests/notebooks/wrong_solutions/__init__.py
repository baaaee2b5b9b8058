"""Realistic wrong solutions to every exercise of notebooks 01-05, one module per exercise.

Each module names its CHECK (a function of course_utils.checks) and lists WRONG: (hint, args) pairs, where
args are what the notebook would hand the check and hint is a phrase the FAIL line must contain (it names
the mistake). tests/notebooks/test_wrong_solutions.py runs them all.
"""
