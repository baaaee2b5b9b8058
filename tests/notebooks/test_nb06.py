"""Notebook 06's checks: right answers (and correct alternatives) pass, each wrong one fails with its own hint,
no check crashes, and the checks leave the global random state alone."""
import math
import statistics

import numpy as np
import pytest
import torch

from course_utils import checks


def spe(n, b):
    batch = min(b, n)
    return n // batch if n % batch == 1 else math.ceil(n / batch)


RIGHT_EPOCHS = {
    "max of both rules": lambda n, b, s, e: max(e, math.ceil(s / spe(n, b))),
    "NumPy integer": lambda n, b, s, e: np.int64(max(e, math.ceil(s / spe(n, b)))),
    "integral float": lambda n, b, s, e: float(max(e, -(-s // spe(n, b)))),
    "integer tensor": lambda n, b, s, e: torch.tensor(max(e, math.ceil(s / spe(n, b)))),
}

WRONG_EPOCHS = {  # name -> (function, words the hint must contain)
    "last batch of one kept": (lambda n, b, s, e: max(e, math.ceil(s / math.ceil(n / min(b, n)))), "batch of ONE image"),
    "n // b + 1": (lambda n, b, s, e: max(e, math.ceil(s / (n // min(b, n) + 1))), "is not a ceiling"),
    "round(x + 0.5)": (lambda n, b, s, e: max(e, math.ceil(s / round(n / min(b, n) + 0.5))), "is not a ceiling"),
    "min_epochs ignored": (lambda n, b, s, e: math.ceil(s / spe(n, b)), "min_epochs"),
    "images, not steps": (lambda n, b, s, e: max(e, math.ceil(s * b / n)), "count steps, not images"),
    "rounded down": (lambda n, b, s, e: max(e, s // spe(n, b)), "round up"),
    "smaller of the rules": (lambda n, b, s, e: min(e, math.ceil(s / spe(n, b))), "not the smaller"),
    "sum of the rules": (lambda n, b, s, e: e + math.ceil(s / spe(n, b)), "not their sum"),
    "floor division": (lambda n, b, s, e: max(e, math.ceil(s / (n // b))), "a partial last batch is a step too"),
    "no min(batch, n)": (lambda n, b, s, e: max(e, math.ceil(s / spe(n, b) if n >= b else s / (n // b))),
                         "ZeroDivisionError"),
    "float epochs": (lambda n, b, s, e: max(e, s / spe(n, b)), "whole number"),
    "returns None": (lambda n, b, s, e: None, "whole number"),
    "lookup table": (lambda n, b, s, e: {(600, 128): 600, (55000, 128): 30}.get((n, b), 1), "expected"),
}


@pytest.mark.parametrize("name", RIGHT_EPOCHS)
def test_run_epochs_accepts_right_answers(name, capsys):
    assert checks.check_run_epochs(RIGHT_EPOCHS[name]), capsys.readouterr().out


@pytest.mark.parametrize("name", WRONG_EPOCHS)
def test_run_epochs_names_each_mistake(name, capsys):
    fn, words = WRONG_EPOCHS[name]
    state = torch.get_rng_state()
    assert not checks.check_run_epochs(fn)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("❌ FAIL [run_epochs]") and words in out, out
    assert torch.equal(state, torch.get_rng_state())


def values(records, model, size, key="test_acc"):
    return [r[key] for r in records if r["model"] == model and r["train_size"] == size]


RIGHT_MEAN_STD = {
    "statistics": lambda rec, m, s: (statistics.mean(values(rec, m, s)), statistics.stdev(values(rec, m, s))),
    "numpy ddof=1": lambda rec, m, s: (np.mean(values(rec, m, s)), np.std(values(rec, m, s), ddof=1)),
    "float32 tensor": lambda rec, m, s: tuple(torch.std_mean(torch.tensor(values(rec, m, s)), unbiased=True))[::-1],
    "a list": lambda rec, m, s: [statistics.mean(values(rec, m, s)), statistics.stdev(values(rec, m, s))],
}


def _pop(rec, m, s):
    return statistics.mean(values(rec, m, s)), statistics.pstdev(values(rec, m, s))


def _mutating(rec, m, s):
    for r in rec:
        r["test_acc"] = round(r["test_acc"], 2)
    return statistics.mean(values(rec, m, s)), statistics.stdev(values(rec, m, s))


WRONG_MEAN_STD = {
    "population std": (_pop, "population std"),
    "variance": (lambda rec, m, s: (statistics.mean(values(rec, m, s)), statistics.variance(values(rec, m, s))),
                 "variance"),
    "every record": (lambda rec, m, s: (statistics.mean(r["test_acc"] for r in rec), 0.01), "every record"),
    "model only": (lambda rec, m, s: (statistics.mean(r["test_acc"] for r in rec if r["model"] == m), 0.01),
                   "every size"),
    "size only": (lambda rec, m, s: (statistics.mean(r["test_acc"] for r in rec if r["train_size"] == s), 0.01),
                  "every model"),
    "val_acc": (lambda rec, m, s: (statistics.mean(values(rec, m, s, "val_acc")), 0.01), "validation"),
    "one number": (lambda rec, m, s: 0.9, "a pair"),
    "changes the records": (_mutating, "changed the records"),
    "raises": (lambda rec, m, s: rec[99], "IndexError"),
}


@pytest.mark.parametrize("name", RIGHT_MEAN_STD)
def test_mean_std_accepts_right_answers(name, capsys):
    assert checks.check_mean_std(RIGHT_MEAN_STD[name]), capsys.readouterr().out


@pytest.mark.parametrize("name", WRONG_MEAN_STD)
def test_mean_std_names_each_mistake(name, capsys):
    fn, words = WRONG_MEAN_STD[name]
    assert not checks.check_mean_std(fn)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("❌ FAIL [mean_std]") and words in out, out


@pytest.mark.parametrize("check", [checks.check_run_epochs, checks.check_mean_std])
def test_unfinished_exercise_is_reported_then_raised(check, capsys):
    def unfinished(*args):
        raise NotImplementedError("Exercise: write your code here")

    with pytest.raises(NotImplementedError):
        check(unfinished)
    assert "not implemented yet" in capsys.readouterr().out
