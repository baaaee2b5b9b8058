"""Checks of notebook 06_dataset_size: the run's budget, and one cell of the results table."""
import math
import numbers
import statistics

from .core import _call, _reports_unfinished, report

# (train_size, batch_size, min_steps, min_epochs): sizes below, equal to and above a batch, a last batch of
# exactly one image (fit drops it), exact multiples, and budgets where either rule decides
BUDGET_CASES = [(600, 128, 3000, 30), (55000, 128, 3000, 30), (100, 512, 300, 1), (1800, 128, 500, 1),
                (6000, 128, 400, 5), (64, 16, 7, 1), (129, 128, 10, 1), (257, 128, 1000, 2), (512, 128, 1000, 1),
                (17, 16, 5, 3), (1, 128, 4, 1), (18000, 128, 1000, 10)]


def _steps_per_epoch(n, b):
    from ..train import steps_per_epoch  # the reference: what fit does
    return steps_per_epoch(n, b)


def _epochs(n, b, steps, epochs):
    from ..experiments import Budget  # the reference: what the sweep does
    return Budget(min_steps=steps, min_epochs=epochs).epochs(n, b)


def _as_whole_number(out):
    """An int from int, a NumPy integer, an integral float or a one-element integer tensor; else None."""
    if isinstance(out, bool):
        return None
    if isinstance(out, numbers.Integral):
        return int(out)
    if isinstance(out, numbers.Real) and float(out).is_integer():
        return int(out)
    if hasattr(out, "numel") and out.numel() == 1 and not out.is_floating_point():
        return int(out.item())
    return None


def _budget_hint(out, n, b, steps, epochs):
    """Name the mistake that gives `out` for this case, or None."""
    batch = min(b, n)
    per = _steps_per_epoch(n, b)
    from_steps = math.ceil(steps / per)
    wrongs = [
        (max(epochs, math.ceil(steps / math.ceil(n / batch))),
         f"fit drops a last batch of ONE image (BatchNorm cannot train on it): {n} images at batch {batch} is "
         f"{per} step(s) per epoch, not {math.ceil(n / batch)}"),
        (max(epochs, math.ceil(steps / (n // batch + 1))),
         f"`n // b + 1` is not a ceiling when the batch divides the set: {n} images at batch {batch} is {per} steps"),
        (max(epochs, math.ceil(steps / math.ceil(n / b))),
         "a set smaller than a batch is one (small) batch per epoch: use batch = min(batch_size, train_size)"),
        (max(epochs, math.ceil(steps / max(1, n // batch))),
         f"a partial last batch is a step too: {n} images at batch {batch} is {per} steps per epoch, not "
         f"{n} // {batch} = {n // batch}"),
        (math.ceil(steps / per), f"at least min_epochs={epochs} epochs too: take the larger of the two rules"),
        (max(epochs, math.ceil(steps * b / n)), "count steps, not images: epochs = ceil(min_steps / steps_per_epoch)"),
        (max(epochs, steps // per), f"round up: {steps // per} epochs give only {(steps // per) * per} < {steps} steps"),
        (min(epochs, from_steps), "both rules must hold: the larger of the two, not the smaller"),
        (epochs + from_steps, "the larger of the two rules, not their sum"),
    ]
    for value, hint in wrongs:
        if out == value and value != _epochs(n, b, steps, epochs):
            return hint
    return None


@_reports_unfinished
def check_run_epochs(fn, exercise="run_epochs"):
    """fn(train_size, batch_size, min_steps, min_epochs) -> epochs of one run under the sweep's budget rule."""
    for n, b, steps, epochs in BUDGET_CASES:
        args = (n, b, steps, epochs)
        where = f"for train_size={n}, batch_size={b}, min_steps={steps}, min_epochs={epochs}"
        expected = _epochs(*args)
        out, err = _call(fn, *args)
        if err:
            hint = (" Hint: an epoch always has at least one step; with batch = min(batch_size, train_size) the "
                    "division is never by zero." if "ZeroDivision" in err else "")
            return report(exercise, False, f"{err} ({where}).{hint}")
        got = _as_whole_number(out)
        if got is None:
            kind = type(out).__name__
            return report(exercise, False, f"returned {out!r} ({kind}) {where}; fit needs a whole number of epochs. "
                                           f"Hint: round up with math.ceil, which returns an int.")
        if got == expected:
            continue
        hint = _budget_hint(got, *args) or ("epochs = max(min_epochs, ceil(min_steps / steps_per_epoch)), with fit's "
                                            "steps_per_epoch (a last batch of one image is dropped)")
        return report(exercise, False, f"got {got} epochs {where}, expected {expected}. Hint: {hint}.")
    return report(exercise, True, f"the budget rule holds on all {len(BUDGET_CASES)} cases, from 1 to 55,000 images "
                                  f"(including a last batch of one image, which fit drops).")


MEAN_STD_CASES = {("vit", 600): [0.862, 0.871, 0.848], ("cnn", 600): [0.951, 0.957, 0.949, 0.960],
                  ("vit", 6000): [0.970, 0.975], ("cnn", 6000): [0.99, 0.9875, 0.991]}


@_reports_unfinished
def check_mean_std(fn, exercise="mean_std"):
    """fn(records, model, train_size) -> (mean, std) of test_acc over that model's runs at that size (std: ddof=1)."""
    records = [{"model": m, "train_size": s, "seed": i, "test_acc": a, "val_acc": a - 0.01}
               for (m, s), values in MEAN_STD_CASES.items() for i, a in enumerate(values)]
    for (model, size), values in MEAN_STD_CASES.items():
        mean, std = statistics.mean(values), statistics.stdev(values)
        given = [dict(r) for r in records]
        out, err = _call(fn, given, model, size)
        where = f"for {model} at {size:,} images ({len(values)} runs)"
        if err:
            return report(exercise, False, f"{err} ({where}).")
        if given != records:
            return report(exercise, False, f"your function changed the records it was given {where}. "
                                           f"Hint: read the records; build a new list instead of editing them.")
        try:
            got_mean, got_std = (float(v) for v in out)
        except (TypeError, ValueError):
            return report(exercise, False, f"returned {out!r} {where}; expected a pair (mean, std). "
                                           f"Hint: return mean, std.")
        tol = 1e-6                                      # float32 arithmetic is fine
        if not math.isclose(got_mean, mean, abs_tol=tol):
            everything = statistics.mean(r["test_acc"] for r in records)
            same_model = statistics.mean(r["test_acc"] for r in records if r["model"] == model)
            same_size = statistics.mean(r["test_acc"] for r in records if r["train_size"] == size)
            val_mean = statistics.mean(v - 0.01 for v in values)
            hint = ("that is the mean over every record: keep only the runs of that model and size"
                    if math.isclose(got_mean, everything, abs_tol=tol) else
                    "that is the mean over every size of that model: keep only the runs of that train_size too"
                    if math.isclose(got_mean, same_model, abs_tol=tol) else
                    "that is the mean over every model at that size: keep only the runs of that model too"
                    if math.isclose(got_mean, same_size, abs_tol=tol) else
                    "that is the validation accuracy: the table is of test_acc"
                    if math.isclose(got_mean, val_mean, abs_tol=tol) else
                    "average test_acc over the records whose model and train_size both match")
            return report(exercise, False, f"mean {got_mean:.4f} {where}, expected {mean:.4f}. Hint: {hint}.")
        if not math.isclose(got_std, std, abs_tol=tol):
            hint = ("that is the population std (ddof=0, NumPy's default); over a few seeds use the sample std: "
                    "np.std(values, ddof=1) or statistics.stdev(values)"
                    if math.isclose(got_std, statistics.pstdev(values), abs_tol=tol) else
                    "that is the variance: take its square root"
                    if math.isclose(got_std, statistics.variance(values), abs_tol=tol) else
                    "the sample standard deviation: sqrt(sum((x - mean)^2) / (n - 1))")
            return report(exercise, False, f"std {got_std:.5f} {where}, expected {std:.5f}. Hint: {hint}.")
    return report(exercise, True, "mean and sample std (ddof=1) over the seeds of one model and size, as in the table.")
