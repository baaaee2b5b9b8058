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


class NotDone(Exception):
    """An exercise that still raises NotImplementedError (the student edition's stub)."""


def call(fn, *args, **kwargs):
    """Run student code; return (output, None) or (None, 'your code raised Name: message').

    NotImplementedError (an exercise not done yet) is not swallowed: `guarded` reports it and re-raises it,
    so a notebook stops at the first unfinished exercise, as nbgrader's student editions do.
    """
    try:
        return fn(*args, **kwargs), None
    except NotImplementedError as e:
        raise NotDone(e) from e
    except Exception as e:  # the check reports the error instead of stopping the notebook
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        message = f"your code raised {type(e).__name__}: {first[:200]}"
        if "in-place" in first:
            message += (" Hint: an in-place operation (+=, /=, .add_(), ...) changed a tensor in place; write a new "
                        "one instead (x = x + ...)")
        return None, message


def call_keeping_inputs(fn, *args, **kwargs):
    """call(fn, ...) on the given tensors, and an error if fn changed any of them in place."""
    before = [a.detach().clone() if torch.is_tensor(a) else None for a in args]
    out, err = call(fn, *args, **kwargs)
    if err:
        return out, err
    for i, (a, b) in enumerate(zip(args, before)):
        if b is not None and not (a.shape == b.shape and torch.equal(a.detach(), b)):
            return None, (f"your code changed its input (argument {i + 1}) in place. Hint: in-place operations "
                          f"(+=, x[...] = , .add_(), .copy_()) write into the caller's tensor; compute a new one "
                          f"(x = x + ...).")
    return out, None


def guarded(check):
    """Decorator for every check: one FAIL line instead of any exception, and the global random state left alone.

    An exercise that still raises NotImplementedError is reported as a FAIL, then re-raised (the notebook stops
    there). Any other exception, raised by the student's objects while the check inspects them, becomes a FAIL
    line that names it.
    """
    import functools
    import inspect

    default_id = inspect.signature(check).parameters["exercise"].default

    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        exercise = kwargs.get("exercise", default_id)
        with torch.random.fork_rng(devices=[]):          # checks never move the notebook's random state
            try:
                return check(*args, **kwargs)
            except NotDone as e:
                report(exercise, False, "not implemented yet: replace `raise NotImplementedError` with your code.")
                not_done = e
            except Exception as e:  # a student object the check could not even inspect
                first = str(e).strip().splitlines()[0] if str(e).strip() else ""
                return report(exercise, False, f"the check could not run your code: {type(e).__name__}: {first[:200]}. "
                                               f"Hint: keep the names and signature the exercise asks for.")
        raise not_done.__cause__ from None
    return wrapper


def same(a, b, tol=1e-5):
    """True when a is a tensor of b's shape whose values match b's within tol (compared in float64)."""
    return (torch.is_tensor(a) and torch.is_tensor(b) and a.shape == b.shape
            and torch.allclose(a.detach().double(), b.detach().double(), atol=tol, rtol=tol))


def first_tensor(out):
    """A module's output without the extras: (values, weights) -> values; anything else unchanged."""
    if isinstance(out, (tuple, list)) and out and torch.is_tensor(out[0]):
        return out[0]
    return out


def describe(out):
    """A short description of a returned value for a FAIL line: its shape or its type."""
    if torch.is_tensor(out):
        return f"a tensor of shape {tuple(out.shape)}"
    if isinstance(out, (tuple, list)):
        return f"a {type(out).__name__} of {len(out)}"
    return f"{type(out).__name__}"


def as_int(value):
    """The value as an int if it is one (Python, NumPy or a 0-d integer tensor; not bool, not float), else None."""
    import operator

    if torch.is_tensor(value):
        return int(value.item()) if value.numel() == 1 and not value.is_floating_point() and value.dtype != torch.bool else None
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def rows_sorted(t):
    """Sort each token's values: equal when tokens hold the same pixels in another order."""
    return t.sort(dim=-1).values


def row_multiset(t):
    """Sort the tokens themselves (lexicographically): equal when the same patches come out in another order."""
    rows = t.reshape(-1, t.shape[-1])
    keys = sorted(range(len(rows)), key=lambda i: rows[i].tolist())
    return rows[keys]


# The names the checks of notebook 06 (and older code) import.
_NotDone, _call, _same, _rows_sorted, _row_multiset = NotDone, call, same, rows_sorted, row_multiset
_reports_unfinished = guarded
