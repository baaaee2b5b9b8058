"""`python -m course_admin.grade`: the grader (its parts live in course_admin/grading/; see cli.py for usage)."""
import sys

from .grading import FLAGS, grade, grade_notebook, inspect_submitted, main, run_notebook, stored_checks
from .repo import run_cli

__all__ = ["FLAGS", "grade", "grade_notebook", "inspect_submitted", "main", "run_notebook", "stored_checks"]

if __name__ == "__main__":
    sys.exit(run_cli(main))
