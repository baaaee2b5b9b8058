"""How a check's result reaches a grader: an output of its own type in the check cell, signed with a secret.

Only a grader turns this on. It names a file in $COURSE_CHECK_NONCE_FILE holding a secret for this run and
imports `course_utils.checks` when the kernel starts, before any student code: `take_secret()` reads the
file, deletes it and forgets the variable, and `take_snapshot()` notes which functions the checks rely on.
From then on every `report()` also shows its result as one output of type MIME, carrying the secret and the
names of the check functions (or comparison functions) that were replaced since the snapshot. The grader
counts a result only if it appears in the outputs of the exercise's own check cell with the right secret, so
a PASS printed, displayed or written to a file by student code does not count.
A student's own run (no grader) shows exactly what it showed before.
"""
import builtins
import os
import sys

MIME = "application/vnd.course.check+json"
SECRET_ENV = "COURSE_CHECK_NONCE_FILE"
_state = {"secret": None, "snapshot": None, "display": None}

# What a check's verdict depends on besides the check modules themselves.
_TORCH = ["allclose", "equal", "isclose", "is_tensor", "testing.assert_close", "Tensor.allclose", "Tensor.equal",
          "Tensor.__eq__", "Tensor.isclose", "Tensor.float", "Tensor.double", "Tensor.detach", "Tensor.clone",
          "nn.Module.__call__"]
_BUILTINS = ["isinstance", "issubclass", "type", "len", "print", "abs", "all", "any", "getattr", "hasattr", "float",
             "int", "bool", "round", "min", "max", "sum", "sorted", "range", "zip", "repr", "str"]


def take_secret():
    """Read and delete the grader's secret (called once, when the kernel starts)."""
    path = os.environ.pop(SECRET_ENV, None)
    if path and _state["secret"] is None:
        try:
            with open(path, encoding="utf-8") as f:
                _state["secret"] = f.read().strip() or None
            os.unlink(path)
        except OSError:
            pass
    return _state["secret"] is not None


def _lookup(owner, attr):
    """The object `owner.attr` names now (a class's own entry when it has one, so bound methods compare)."""
    import torch

    obj = builtins if owner == "builtins" else sys.modules.get(owner) if owner.startswith("course_utils") else torch
    if obj is torch:
        for part in owner.split(".")[1:]:
            obj = getattr(obj, part)
    if isinstance(obj, type) and attr in vars(obj):
        return vars(obj)[attr]
    return getattr(obj, attr, None)


def _watched():
    """{(owner, attribute): object} for everything a check's verdict depends on."""
    found = {}
    for name, module in list(sys.modules.items()):
        if name.startswith("course_utils.checks") and module is not None:
            for attr, value in list(vars(module).items()):
                if callable(value) and not attr.startswith("__"):
                    found[(name, attr)] = value
    for path in _TORCH:
        owner, _, attr = ("torch." + path).rpartition(".")
        found[(owner, attr)] = _lookup(owner, attr)
    for attr in _BUILTINS:
        found[("builtins", attr)] = _lookup("builtins", attr)
    return found


def take_snapshot():
    """Remember the functions checks rely on (called when the kernel starts, after importing the checks)."""
    from IPython.display import display

    _state["snapshot"], _state["display"] = _watched(), display


def tampered():
    """The watched names that no longer hold the object they held at the snapshot."""
    changed = []
    for (owner, attr), value in (_state["snapshot"] or {}).items():
        if _lookup(owner, attr) is not value:
            changed.append(f"{owner}.{attr}")
    return changed


def start():
    """What a grader runs when the kernel starts, before any student code: take the secret, then the snapshot."""
    if take_secret():
        take_snapshot()


def publish(record):
    """Show `record` as a signed output of type MIME when a grader asked for it; otherwise do nothing."""
    if _state["secret"] is None or _state["display"] is None:
        return
    _state["display"]({MIME: {**record, "secret": _state["secret"], "tampered": tampered()}}, raw=True)
