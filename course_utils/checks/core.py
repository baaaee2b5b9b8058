"""The core of every self-check: the result, the one printed line, the grader's log, safe calls.

Self-checks for the exercises. Each compares a student's code with the reference on fixed and
random inputs and prints ONE line: a pass, or what differs with a hint. It also returns a CheckResult
(exercise id, points, passed, message) and, when $COURSE_CHECK_LOG names a file, appends that result to
it as one JSON line, so a grader can collect the results without reading the printed text.

The checks know the classic mistakes: a plain reshape or a wrong permute when cutting patches, a
missing 1/sqrt(d) scale, a softmax over the wrong axis, heads split without a transpose, one LayerNorm
shared by both sub-layers, a Post-LN block, a position embedding sized for another number of patches,
nn.MultiheadAttention without batch_first=True.
"""
import json
import os
import re
from dataclasses import asdict, dataclass

import torch

from . import channel


@dataclass
class CheckResult:
    exercise: str
    passed: bool
    message: str
    points: int = 1

    @property
    def score(self):
        return self.points if self.passed else 0

    def __bool__(self):
        return self.passed

    def _ipython_display_(self):
        """Show nothing: the check already printed its one line. (A trailing `;` does not hide a value when
        nbval runs a cell, since it executes with store_history=False; this makes both runs show the same.)"""


PASS_MARK, FAIL_MARK = "✅ PASS", "❌ FAIL"
LOG_ENV = "COURSE_CHECK_LOG"     # a file the grader names; each check appends its result there as one JSON line
# The printed line, as the grader reads it back from a notebook's stored outputs. Linear time on any input:
# no nested quantifiers, and the id is bounded.
LINE_RE = re.compile(r"(✅ PASS|❌ FAIL) \[([A-Za-z0-9_.\-]{1,80})\]")


def format_line(result):
    """The one line a check prints: '✅ PASS [exercise] message' or '❌ FAIL [exercise] message'."""
    return f"{PASS_MARK if result.passed else FAIL_MARK} [{result.exercise}] {result.message}"


def parse_lines(text):
    """{exercise: "pass" or "fail"} from printed check lines (the last line of an exercise wins)."""
    found = {}
    for mark, exercise in LINE_RE.findall(text):
        found[exercise] = "pass" if mark == PASS_MARK else "fail"
    return found


def to_log_record(result):
    """The machine-readable result: one JSON object per check."""
    return {**asdict(result), "score": result.score}


def report(exercise, passed, message, points=1):
    """Print the one line a check shows, log it for grading, and return it as a CheckResult."""
    result = CheckResult(exercise, bool(passed), message, points)
    print(format_line(result))
    log = os.environ.get(LOG_ENV)
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps(to_log_record(result)) + "\n")
    channel.publish(to_log_record(result))  # for a grader only: a signed output in the check cell (see channel)
    return result


class _NotDone(Exception):
    pass


def _call(fn, *args):
    """Run student code; return (output, None) or (None, 'ExceptionName: message').

    NotImplementedError (an exercise not done yet) is not swallowed: the check reports it and re-raises,
    so a notebook stops at the first unfinished exercise, as nbgrader's student editions do.
    """
    try:
        return fn(*args), None
    except NotImplementedError as e:
        raise _NotDone(e) from e
    except Exception as e:  # the check reports the error instead of stopping the notebook
        return None, f"your code raised {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def _reports_unfinished(check):
    """Decorator: an exercise that still raises NotImplementedError is reported as a FAIL, then re-raised."""
    import functools
    import inspect

    default_id = inspect.signature(check).parameters["exercise"].default

    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        try:
            return check(*args, **kwargs)
        except _NotDone as e:
            report(kwargs.get("exercise", default_id), False,
                   "not implemented yet: replace `raise NotImplementedError` with your code.")
            raise e.__cause__ from None
    return wrapper


def _same(a, b, tol=1e-5):
    return torch.is_tensor(a) and a.shape == b.shape and torch.allclose(a.float(), b.float(), atol=tol, rtol=tol)


def _rows_sorted(t):
    """Sort each token's values: equal when tokens hold the same pixels in another order."""
    return t.sort(dim=-1).values


def _row_multiset(t):
    """Sort the tokens themselves (lexicographically): equal when the same patches come out in another order."""
    rows = t.reshape(-1, t.shape[-1])
    keys = sorted(range(len(rows)), key=lambda i: rows[i].tolist())
    return rows[keys]


