"""Accuracy against training-set size: a resumable sweep over (model, variant, size, seed) (notebook 06).

THE PROTOCOL (the same rule for every model and size):
- Data: a fixed validation set (5,000 images held out of MNIST's 60,000, stratified) and the test set;
  each training set is `balanced_subset(pool, size, seed)` of the remaining 55,000 (nested across sizes).
- Budget: every run makes max(min_steps, min_epochs * steps_per_epoch) optimizer steps. `min_steps`
  keeps small sets from being trained for too few updates; `min_epochs` lets large sets be seen often
  enough. The two numbers are part of each model's recipe (a ViT needs more epochs than a CNN to converge),
  and each record checks convergence: the validation accuracy at half the budget is stored beside the final one.
- Recipe per model (learning rate, augmentation on/off, budget) is chosen on the validation set, never
  on the test set; the test set is evaluated once per run, after training, and chooses nothing.

Each finished run is appended as one JSON line to a results file (flushed and fsync'ed), so a
disconnect loses at most the run in progress; a rerun reads the file and skips what is done. Lines are
validated on reading: a broken line names the file and line (an incomplete *last* line, a disconnect
mid-write, is dropped with a warning). `summarize` turns records into mean / std / min / max per
(model, size); `compare` gives the gap and the error ratio between two models per size.
"""
import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

from .checkpoints import changed_settings, save_weights
from .data import balanced_subset
from .models import build_model, count_parameters
from .runtime import amp_settings, provenance
from .train import TrainConfig, evaluate, fit, pick_device, seed_everything, steps_per_epoch

RESULT_FIELDS = ("model", "variant", "train_size", "seed", "steps", "epochs", "batch_size", "train_loss",
                 "train_acc", "val_acc", "val_acc_half", "test_acc", "test_f1", "train_time_s", "images_per_s",
                 "device", "profile", "torch", "commit")
REQUIRED_FIELDS = ("model", "train_size", "seed", "test_acc")


# ------------------------------------------------------------------------------------ the step budget
def epochs_for_budget(steps, train_size, batch_size):
    """Epochs that give at least `steps` optimizer steps: ceil(steps / steps_per_epoch), with fit's
    steps_per_epoch (which drops a last batch of one image)."""
    return math.ceil(steps / steps_per_epoch(train_size, batch_size))


@dataclass(frozen=True)
class Budget:
    """How long a run trains: at least `min_steps` optimizer steps AND at least `min_epochs` epochs."""
    min_steps: int = 0
    min_epochs: int = 1

    def epochs(self, train_size, batch_size):
        return max(self.min_epochs, epochs_for_budget(self.min_steps, train_size, batch_size))


@dataclass(frozen=True)
class Recipe:
    """Everything that decides one model's training, besides the data and the seed."""
    model: str                                    # a build_model name
    train: TrainConfig = TrainConfig()
    budget: Budget = Budget()
    variant: str = "default"                      # a name for this recipe, e.g. "augment" / "plain"
    model_kwargs: dict = field(default_factory=dict)

    def config(self, train_size, seed):
        """The TrainConfig of one run: epochs from the budget, the run's seed."""
        return replace(self.train, epochs=self.budget.epochs(train_size, self.train.batch_size), seed=seed)


def budget_config(recipe, steps, train_size, *, seed=0):
    """A TrainConfig with its epochs set by a plain step budget and its seed set."""
    return Recipe("any", recipe, Budget(min_steps=steps)).config(train_size, seed)


# ------------------------------------------------------------------------------------ the results file
def load_results(path):
    """All records of a results file (JSON lines); [] if it does not exist.

    An incomplete last line (a run cut off while its record was written) is skipped with a warning;
    a broken line anywhere else, or a record without the required fields, raises ValueError naming the line.
    """
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            if i == len(lines) - 1:
                warnings.warn(f"{path.name}: ignoring an incomplete last line ({len(line)} characters; a run cut "
                              f"off while its result was written). That run will be trained again.", stacklevel=2)
                continue
            raise ValueError(f"{path}, line {i + 1} is not valid JSON ({e.msg}); only the last line can be "
                             f"cut off by a disconnect. Fix or delete that line, or delete the file to start over.") from e
        missing = [k for k in REQUIRED_FIELDS if not isinstance(record, dict) or k not in record]
        if missing:
            raise ValueError(f"{path}, line {i + 1} is not a run record: it lacks {missing}. "
                             f"Fix or delete that line.")
        records.append(record)
    return records


def _drop_incomplete_tail(path):
    """Cut an incomplete last line off the file (with a warning), so the next record starts on a line of its own."""
    path = Path(path)
    if not path.exists():
        return
    data = path.read_bytes()
    start = data.rstrip(b"\n").rfind(b"\n") + 1            # where the last non-empty line starts
    last = data[start:].strip()
    if not last:
        return
    try:
        json.loads(last)
        complete = True
    except ValueError:                                       # JSONDecodeError or UnicodeDecodeError
        complete = False
    if complete and data.endswith(b"\n"):
        return
    with open(path, "r+b") as f:
        if complete:                                         # a whole record that only lacks its newline
            f.seek(0, os.SEEK_END)
            f.write(b"\n")
        else:
            warnings.warn(f"{path.name}: dropped an incomplete last line ({len(last)} bytes; a run cut off while "
                          f"its result was written). That run will be trained again.", stacklevel=3)
            f.truncate(start)
        f.flush()
        os.fsync(f.fileno())


def append_result(path, record):
    """Append one record as a JSON line, flushed to disk before returning."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def run_key(record):
    """What identifies a run: (model, variant, train_size, seed)."""
    return record["model"], record.get("variant", "default"), int(record["train_size"]), int(record["seed"])


# ------------------------------------------------------------------------------------------ the sweep
def device_name(device):
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def grid(recipes, sizes, seeds):
    """The runs of a sweep, (recipe, size, seed), seed by seed, then size, then recipe, so a sweep cut
    short still has whole curves."""
    return [(r, int(s), int(sd)) for sd in seeds for s in sizes for r in recipes]


def run_sweep(runs, *, pool, test, val, results_path, profile=None, weights_dir=None, save_weights_for=None,
              fit_options=None, analyse=None, device=None, log=print):
    """Train every run of `runs` (a list of (Recipe, size, seed), e.g. from `grid`) not yet in the results
    file; return the records of all of them, in order.

    pool, val, test: ImageData. Training sets are balanced_subset(pool, size, seed) (all of the pool when
        size >= len(pool): not class-balanced). val is evaluated at half the budget and at the end; the test
        set once, at the end.
    weights_dir: where to save each run's weights (state dict) before its record is written; only the
        runs for which save_weights_for(record) is true, if that is given.
    fit_options: extra keyword arguments for train.fit that leave the recipe alone (speed options),
        a dict or a function model -> dict.
    analyse: optional function (model, record) -> dict of extra fields for the record (e.g. attention distances).
    log: called with one line per run (None: silent).
    """
    device = torch.device(device) if device is not None else pick_device()
    log = log or (lambda *a, **k: None)
    for _, size, _ in runs:
        if size > len(pool):
            raise ValueError(f"train_size {size} is larger than the pool ({len(pool)} images). "
                             f"Use len(pool) for 'all of it'.")
    _drop_incomplete_tail(results_path)
    done = {run_key(r): r for r in load_results(results_path)}
    keys = [(r.model, r.variant, size, seed) for r, size, seed in runs]
    for (recipe, size, seed), key in zip(runs, keys):
        if key in done:
            _check_same_setup(done[key], _setup(recipe, size, seed, pool, test, val), results_path)
    todo = [(run, key) for run, key in zip(runs, keys) if key not in done]
    log(f"{len(runs)} runs: {len(runs) - len(todo)} already in {Path(results_path).name}, "
        f"{len(todo)} to train on {device_name(device)}.")
    if todo:
        pool, test, val = pool.to(device), test.to(device), val.to(device)
    info = provenance() if todo else {}

    for i, ((recipe, size, seed), key) in enumerate(todo, 1):
        record = train_one(recipe, size, seed, pool=pool, val=val, test=test, device=device,
                           fit_options=fit_options, profile=profile, info=info, analyse=analyse,
                           weights_dir=weights_dir, save_weights_for=save_weights_for)
        append_result(results_path, record)
        done[key] = record
        log(f"[{i}/{len(todo)}] {recipe.model:>5} ({recipe.variant}) on {size:>6,} images, seed {seed}: "
            f"val {record['val_acc']:.4f} (half budget {record['val_acc_half']:.4f}), test {record['test_acc']:.4f}, "
            f"train {record['train_acc']:.4f} ({record['steps']:,} steps = {record['epochs']} epochs, "
            f"{record['train_time_s']:.0f} s)")
    return [done[key] for key in keys]


def train_one(recipe, size, seed, *, pool, val, test, device, fit_options=None, profile=None, info=None,
              analyse=None, weights_dir=None, save_weights_for=None):
    """Train and evaluate one run; return its record (nothing is written)."""
    setup = _setup(recipe, size, seed, pool, test, val)
    cfg = TrainConfig(**setup["train_config"])
    train = balanced_subset(pool, size, seed=seed)              # == pool when size >= len(pool)
    seed_everything(seed)                                        # the initial weights
    model = build_model(recipe.model, image_size=pool.image_size, in_channels=pool.in_channels,
                        num_classes=pool.num_classes, **recipe.model_kwargs)
    half_epoch = max(1, math.ceil(cfg.epochs / 2))
    halfway = {}

    def at_epoch_end(epoch, history):
        if epoch == half_epoch:
            halfway["val_acc"] = evaluate(model, val, batch_size=cfg.eval_batch_size).accuracy

    options = fit_options(model) if callable(fit_options) else dict(fit_options or {})
    start = time.perf_counter()
    history = fit(model, train, cfg=cfg, device=device, progress=False, on_epoch_end=at_epoch_end, **options)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    train_time = sum(history["epoch_time"]) if history["epoch_time"] else time.perf_counter() - start
    images = sum(ips * t for ips, t in zip(history["images_per_s"], history["epoch_time"]))
    on_train = evaluate(model, train, batch_size=cfg.eval_batch_size)   # clean images: no augmentation
    on_val = evaluate(model, val, batch_size=cfg.eval_batch_size)
    on_test = evaluate(model, test, batch_size=cfg.eval_batch_size)     # the test set, once
    record = {
        "model": recipe.model, "variant": recipe.variant, "train_size": size, "seed": seed,
        "steps": cfg.epochs * steps_per_epoch(size, cfg.batch_size), "epochs": cfg.epochs,
        "batch_size": cfg.batch_size, "balanced": size < len(pool),
        "train_loss": on_train.loss, "train_acc": on_train.accuracy,
        "train_loss_augmented": history["train_loss"][-1], "train_acc_augmented": history["train_acc"][-1],
        "val_acc": on_val.accuracy, "val_acc_half": halfway.get("val_acc", on_val.accuracy), "val_loss": on_val.loss,
        "test_acc": on_test.accuracy, "test_f1": on_test.macro_f1, "test_loss": on_test.loss,
        "train_time_s": round(train_time, 3), "images_per_s": round(images / train_time, 1),
        "device": device_name(device), "precision": str(amp_settings(device)[0] or torch.float32).replace("torch.", ""),
        "profile": str(profile) if profile is not None else None,
        "params": count_parameters(model), **(info or {}), **setup,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if analyse is not None:
        record.update(analyse(model, record))
    if weights_dir is not None and (save_weights_for is None or save_weights_for(record)):
        save_weights(model, weights_path(weights_dir, recipe.model, size, seed, recipe.variant))
    return record


def _setup(recipe, size, seed, pool, test, val):
    """What a record must share with the current settings for a rerun to reuse it."""
    return {"budget": asdict(recipe.budget), "train_config": asdict(recipe.config(size, seed)),
            "model_kwargs": dict(recipe.model_kwargs), "pool_size": len(pool), "test_size": len(test),
            "val_size": len(val), "dataset": pool.name}


def _check_same_setup(record, setup, path):
    # The budget is the rule that chose the epochs: a record made under another rule that gave this run the same
    # train config (epochs included) is the same run. Its record keeps the rule it was trained under.
    setup = {k: v for k, v in json.loads(json.dumps(setup)).items() if k != "budget"}   # tuples -> lists, as read back
    saved = {k: record.get(k) for k in setup}
    if isinstance(saved["train_config"], dict):            # a field added to TrainConfig later: equal at its default
        defaults = {f.name: f.default for f in fields(TrainConfig)}
        saved["train_config"] = {n: saved["train_config"].get(n, defaults.get(n)) for n in setup["train_config"]}
    changed = changed_settings(saved, setup)
    if changed:
        raise ValueError(
            f"{Path(path).name} holds run {run_key(record)} made with other settings (saved vs now: {changed}). "
            f"Delete the file to start over, or pass another results_path.")


def same_run(record, recipe, size, seed, pool, test, val):
    """Whether `record` is this run: the same model, size and seed, made with the same recipe on the same data."""
    if (record["model"], int(record["train_size"]), int(record["seed"])) != (recipe.model, size, seed):
        return False
    try:
        _check_same_setup(record, _setup(recipe, size, seed, pool, test, val), "")
    except ValueError:
        return False
    return True


def weights_path(weights_dir, model, train_size, seed, variant="default"):
    tag = "" if variant == "default" else f"_{variant}"
    return Path(weights_dir) / f"{model}{tag}_n{train_size}_seed{seed}.pt"


# ------------------------------------------------------------------------------------ recipe choice
def choose_variant(records, model, variants, *, metric="val_acc"):
    """The variant of `model` with the highest mean validation accuracy over the sizes and seeds that
    every one of `variants` has run (so each is judged on the same runs). Returns (best, {variant: mean})."""
    by = {v: {(r["train_size"], r["seed"]): r[metric] for r in records
              if r["model"] == model and r.get("variant", "default") == v} for v in variants}
    common = set.intersection(*(set(d) for d in by.values())) if by else set()
    if not common:
        raise ValueError(f"No (size, seed) that all variants {list(variants)} of {model!r} have run.")
    means = {v: float(np.mean([by[v][k] for k in sorted(common)])) for v in variants}
    return max(variants, key=lambda v: means[v]), means


def budget_doubling(records, doubled):
    """Is the budget long enough? For each run of `doubled` (the same recipe with twice the budget), the run of
    `records` with the same model, variant, size and seed: validation accuracy at 1x and 2x and the gain."""
    once = {run_key(r): r for r in records}
    return [{"model": r["model"], "variant": r.get("variant", "default"), "train_size": r["train_size"], "seed": r["seed"],
             "steps_1x": b["steps"], "steps_2x": r["steps"], "val_acc_1x": b["val_acc"], "val_acc_2x": r["val_acc"],
             "gain": r["val_acc"] - b["val_acc"]} for r in doubled if (b := once.get(run_key(r))) is not None]


# ------------------------------------------------------------------------------------------ summaries
def summarize(records, metric="test_acc"):
    """Per (model, train_size): n, mean, std (sample std, ddof=1; nan for one run), min, max of `metric`."""
    groups = {}
    for r in records:
        groups.setdefault((r["model"], int(r["train_size"])), []).append(float(r[metric]))
    rows = []
    for (model, size), values in sorted(groups.items()):
        v = np.array(values)
        rows.append({"model": model, "train_size": size, "n": len(v), "mean": float(v.mean()),
                     "std": float(v.std(ddof=1)) if len(v) > 1 else float("nan"),
                     "min": float(v.min()), "max": float(v.max())})
    return rows


def compare(summary, model, baseline):
    """Per size both models have: mean of each, gap = model - baseline, and the ratio of their error rates."""
    means = {(r["model"], r["train_size"]): r for r in summary}
    sizes = sorted({s for (m, s) in means if m == model} & {s for (m, s) in means if m == baseline})
    rows = []
    for s in sizes:
        a, b = means[(model, s)], means[(baseline, s)]
        err_a, err_b = 1 - a["mean"], 1 - b["mean"]
        rows.append({"train_size": s, model: a["mean"], baseline: b["mean"], "gap": a["mean"] - b["mean"],
                     "error_ratio": err_a / err_b if err_b > 0 else float("inf"),
                     "spread": max(a["max"] - a["min"], b["max"] - b["min"])})
    return rows


def crossovers(comparison):
    """Pairs of neighbouring sizes (s1, s2) between which the gap changes sign (the curves cross)."""
    found = []
    for r1, r2 in zip(comparison, comparison[1:]):
        if (r1["gap"] < 0) != (r2["gap"] < 0):
            found.append((r1["train_size"], r2["train_size"]))
    return found


def error_slopes(records, model, metric="test_acc"):
    """Slope alpha of log(error) against log(size), error ~ size ** -alpha, fitted per seed.

    Returns (mean, sample std over seeds, {seed: alpha}); seeds with fewer than 2 sizes are skipped.
    """
    per_seed = {}
    for r in records:
        if r["model"] == model:
            per_seed.setdefault(int(r["seed"]), []).append((int(r["train_size"]), 1 - float(r[metric])))
    alphas = {}
    for seed, points in sorted(per_seed.items()):
        if len({s for s, _ in points}) < 2:
            continue
        x = np.log([s for s, _ in points])
        y = np.log([max(e, 1e-4) for _, e in points])
        alphas[seed] = float(-np.polyfit(x, y, 1)[0])
    v = np.array(list(alphas.values()))
    if not len(v):
        raise ValueError(f"No seed of {model!r} has runs at two or more sizes.")
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan"), alphas


def summary_markdown(summary, models=None, *, percent=True):
    """A Markdown table: one row per size, one column per model, "mean ± std (min-max, n runs)"."""
    models = models or sorted({r["model"] for r in summary})
    sizes = sorted({r["train_size"] for r in summary})
    cell = {(r["model"], r["train_size"]): r for r in summary}
    scale, unit = (100, " %") if percent else (1, "")

    def fmt(r):
        if r is None:
            return "–"
        std = "" if math.isnan(r["std"]) else f" ± {scale * r['std']:.2f}"
        spread = f" ({scale * r['min']:.2f}–{scale * r['max']:.2f})" if r["n"] > 1 else ""
        return f"**{scale * r['mean']:.2f}**{std}{spread}, n={r['n']}"

    lines = [f"| training images | {' | '.join(models)} |", "|---:|" + "---|" * len(models)]
    for s in sizes:
        lines.append(f"| {s:,} | " + " | ".join(fmt(cell.get((m, s))) for m in models) + " |")
    return "\n".join(lines) + (f"\n\nTest accuracy in{unit}: mean ± sample std over seeds (min–max), n runs." if percent else "")
