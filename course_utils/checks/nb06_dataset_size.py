"""Checks of notebook 06_dataset_size."""
import math

import torch

from .core import report, _call, _reports_unfinished

@_reports_unfinished
def check_epochs_for_budget(fn, exercise="epochs_for_budget"):
    """fn(steps, train_size, batch_size) -> the number of epochs that gives at least `steps` optimizer steps."""
    from ..experiments import epochs_for_budget

    cases = [(1000, 600, 512), (3240, 55000, 512), (300, 100, 512), (500, 1800, 128), (400, 6000, 128), (7, 64, 16)]
    for steps, size, batch in cases:
        expected = epochs_for_budget(steps, size, batch)
        out, err = _call(fn, steps, size, batch)
        where = f"for steps={steps}, train_size={size}, batch_size={batch}"
        if err:
            hint = (" Hint: an epoch of fewer images than one batch is still one step: batch = min(batch_size, train_size), "
                    "and a partial last batch counts as a step (round up)." if "ZeroDivision" in err else "")
            return report(exercise, False, f"{err} ({where}).{hint}")
        if isinstance(out, float) and out.is_integer():
            out = int(out)
        if not isinstance(out, int) and not (torch.is_tensor(out) and out.numel() == 1 and not out.is_floating_point()):
            return report(exercise, False, f"returned {out!r} ({type(out).__name__}) {where}; fit needs a whole number "
                                           f"of epochs. Hint: round up with math.ceil.")
        out = int(out)
        if out == expected:
            continue
        per_epoch = math.ceil(size / min(batch, size))
        if out == math.ceil(steps * batch / size) or out == math.ceil(steps * min(batch, size) / size):
            hint = (f"count steps, not images: an epoch of {size} images at batch size {batch} is {per_epoch} step(s) "
                    f"(the last batch may be partial), so epochs = ceil(steps / steps_per_epoch)")
        elif out == steps // per_epoch:
            hint = (f"round up: {out} epochs give only {out * per_epoch} < {steps} steps. "
                    f"Use math.ceil(steps / steps_per_epoch)")
        elif out in (math.ceil(steps / max(1, size // batch)), steps // max(1, size // batch)):
            hint = (f"a partial last batch is a step too: steps_per_epoch = ceil(train_size / batch) = {per_epoch}, "
                    f"not train_size // batch = {size // batch}")
        else:
            hint = "steps_per_epoch = ceil(train_size / min(batch_size, train_size)); epochs = ceil(steps / steps_per_epoch)"
        return report(exercise, False, f"got {out} epochs {where}, expected {expected}. Hint: {hint}.")
    return report(exercise, True, "the right number of epochs for the step budget at every size, from 64 to 55,000 images.")


@_reports_unfinished
def check_mean_std(fn, exercise="mean_std"):
    """fn(records, model, train_size) -> (mean, std) of test_acc over that model's runs at that size (std: ddof=1)."""
    import statistics

    accs = {("vit", 600): [0.862, 0.871, 0.848], ("cnn", 600): [0.951, 0.957, 0.949, 0.960],
            ("vit", 6000): [0.970, 0.975]}
    records = [{"model": m, "train_size": s, "seed": i, "test_acc": a}
               for (m, s), values in accs.items() for i, a in enumerate(values)]
    for (model, size), values in accs.items():
        mean, std = statistics.mean(values), statistics.stdev(values)
        out, err = _call(fn, [dict(r) for r in records], model, size)
        if err:
            return report(exercise, False, err)
        try:
            got_mean, got_std = (float(v) for v in out)
        except (TypeError, ValueError):
            return report(exercise, False, f"returned {out!r}; expected a pair (mean, std). Hint: return mean, std.")
        where = f"for {model} at {size} images ({len(values)} runs)"
        if not math.isclose(got_mean, mean, abs_tol=1e-9):
            everything = statistics.mean(r["test_acc"] for r in records)
            hint = ("that is the mean over every record: keep only the runs of that model and size"
                    if math.isclose(got_mean, everything, abs_tol=1e-9) else
                    "average test_acc over the records whose model and train_size match")
            return report(exercise, False, f"mean {got_mean:.4f} {where}, expected {mean:.4f}. Hint: {hint}.")
        if not math.isclose(got_std, std, abs_tol=1e-9):
            hint = ("that is the population std (ddof=0, NumPy's default); over a few seeds use the sample std: "
                    "np.std(values, ddof=1) or statistics.stdev(values)"
                    if math.isclose(got_std, statistics.pstdev(values), abs_tol=1e-9) else
                    "the sample standard deviation: sqrt(sum((x - mean)^2) / (n - 1))")
            return report(exercise, False, f"std {got_std:.5f} {where}, expected {std:.5f}. Hint: {hint}.")
    return report(exercise, True, "mean and sample std (ddof=1) over the seeds of one model and size, as in the summary table.")
