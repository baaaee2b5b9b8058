"""The grader, in parts: collect, splice, scan, sandbox, execute, notebook, worker, runner, gradebook, cli."""
from .cli import main
from .execute import run_notebook
from .model import FLAGS
from .notebook import grade_notebook, inspect_submitted, stored_checks
from .runner import grade

__all__ = ["FLAGS", "grade", "grade_notebook", "inspect_submitted", "main", "run_notebook", "stored_checks"]
