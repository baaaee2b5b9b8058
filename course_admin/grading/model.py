"""What a grade is made of: flags, exercise marks, a notebook's grade, a student's grade (and their JSON form)."""
from dataclasses import asdict, dataclass, field

# Flag codes (the gradebook's `flags` column shows the codes; each student's report explains them).
FLAGS = {
    "missing_notebook": "no submitted notebook matches this one",
    "ambiguous_file": "several submitted files match this notebook; the rule in the report picked one",
    "symlink": "a submitted notebook is a symbolic link: not followed, not graded",
    "corrupt": "the file is not a readable notebook (not valid JSON or not nbformat 4)",
    "not_executed": "code cells were never executed as submitted",
    "out_of_order": "execution counts are not increasing: the notebook was not run top to bottom",
    "not_fresh_run": "execution counts skip numbers or do not start at 1 (cells re-run or deleted)",
    "stored_error": "the submitted notebook holds error outputs",
    "stored_mismatch": "a stored check result differs from the re-run",
    "exercise_missing": "an exercise cell (`# Exercise <id>:`) is missing: its stub was graded",
    "edited_outside": "cells or lines outside the solution regions were edited: the instructor's version ran",
    "suspicious_code": "a solution region uses the check machinery, the environment, the interpreter's internals "
                       "or the exercise's reference: read it",
    "tampered": "check or comparison functions were replaced when the check ran: that exercise scores 0",
    "forged_result": "a check result without the grader's secret, or from another cell: ignored",
    "duplicate_result": "a check cell showed more than one result for its exercise: that exercise scores 0",
    "identical_work": "the solution regions are identical to another student's",
    "run_error": "cells raised errors when re-run",
    "timeout": "a cell ran past the per-cell timeout and was interrupted",
    "killed": "a cell ignored the interrupt: the kernel was stopped, later cells did not run",
    "kernel_died": "the kernel died: later cells did not run",
    "time_limit": "the notebook ran past its total time limit: later cells did not run",
    "output_limit": "a cell printed more than the grader keeps: the rest of its output was dropped",
    "no_sandbox": "graded without a sandbox (--no-sandbox): student code ran with the grader's permissions",
    "grader_error": "the grader itself failed on this notebook",
    "no_result": "no result for this student yet: its shard did not finish (grade it, then merge again)",
}


@dataclass
class Flag:
    code: str
    text: str


@dataclass
class ExerciseGrade:
    exercise: str
    points: int
    score: int = 0
    status: str = "no result"  # pass | fail | not implemented | error | timeout | not run | tampered | no result
    message: str = ""


@dataclass
class Answer:
    question: str
    points: int
    text: str = ""
    answered: bool = False


@dataclass
class NotebookGrade:
    notebook: str
    file: str = ""
    exercises: list = field(default_factory=list)
    flags: list = field(default_factory=list)
    errors: list = field(default_factory=list)   # re-run errors: "cell 7: NameError: ..."
    edits: list = field(default_factory=list)    # edits outside the solution regions (they did not run)
    answers: list = field(default_factory=list)  # written questions, for the instructor (ungraded)
    fingerprint: str = ""                        # of the solution regions, to spot identical work
    seconds: float = 0.0

    def flag(self, code, text):
        self.flags.append(Flag(code, text))


@dataclass
class StudentGrade:
    student: str
    notebooks: list = field(default_factory=list)
    sandboxed: bool = True
    source: str = ""        # the submission's folder or file, as listed
    digest: str = ""        # of the files graded: a rerun regrades a student whose files changed

    @property
    def total(self):
        return sum(e.score for nb in self.notebooks for e in nb.exercises)

    @property
    def max_total(self):
        return sum(e.points for nb in self.notebooks for e in nb.exercises)


def to_dict(sg):
    """A student's grade as plain JSON data."""
    return {**asdict(sg), "total": sg.total, "max": sg.max_total}


def from_dict(data):
    """The StudentGrade that to_dict wrote."""
    notebooks = []
    for nb in data["notebooks"]:
        nb = dict(nb)
        nb["exercises"] = [ExerciseGrade(**e) for e in nb["exercises"]]
        nb["flags"] = [Flag(**f) for f in nb["flags"]]
        nb["answers"] = [Answer(**a) for a in nb.get("answers", [])]
        notebooks.append(NotebookGrade(**nb))
    keep = {k: data[k] for k in ("sandboxed", "source", "digest") if k in data}
    return StudentGrade(data["student"], notebooks, **keep)


def flag_summary(sg):
    """'01_patches: timeout, run_error; 02_attention: missing_notebook' (codes, in order, once each)."""
    parts = []
    for ng in sg.notebooks:
        codes = list(dict.fromkeys(f.code for f in ng.flags))
        if codes:
            parts.append(f"{ng.notebook}: {', '.join(codes)}")
    return "; ".join(parts)
