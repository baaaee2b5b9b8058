"""Accuracy against training-set size: a resumable sweep over (model, size, seed) (notebook 06_dataset_size).

Every run trains one model on a class-balanced subset of the training pool with a FIXED BUDGET OF
OPTIMIZER STEPS, the same at every size: a small set is simply repeated for more epochs,

    steps_per_epoch = ceil(size / batch)          (batch = min(batch_size, size), as `train.fit` does)
    epochs          = ceil(steps / steps_per_epoch)

so each run takes between `steps` and `steps + steps_per_epoch - 1` steps (the record stores the exact
number). The test set is evaluated once, after training, and chooses nothing.

Each finished run is appended as one JSON line to a results file (flushed and fsync'ed), so a
disconnect loses at most the run in progress; a rerun reads the file and skips what is done. An
incomplete last line (a disconnect mid-write) is dropped with a warning. `summarize` turns the records
into mean / std / min / max per (model, size); `compare` gives the gap between two models per size.

Left out on purpose: training to a validation plateau (early stopping) -- a fixed step budget is
simpler to state, costs the same at every size, and needs no choice made while training.
"""
import json
import math
import os
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from .data import balanced_subset
from .models import build_model, count_parameters
from .train import TrainConfig, evaluate, fit, pick_device, seed_everything

RESULT_FIELDS = ("model", "train_size", "seed", "steps", "epochs", "batch_size", "test_acc", "test_f1",
                 "test_loss", "val_acc", "train_time_s", "images_per_s", "device", "profile")


# ------------------------------------------------------------------------------------ the step budget
def steps_per_epoch(train_size, batch_size):
    """Optimizer steps in one epoch of `train.fit` over `train_size` images."""
    batch = min(batch_size, train_size)
    if train_size % batch == 1:           # fit drops a last batch of one image (BatchNorm cannot train on it)
        return train_size // batch
    return math.ceil(train_size / batch)


def epochs_for_budget(steps, train_size, batch_size):
    """Epochs that give at least `steps` optimizer steps: ceil(steps / steps_per_epoch)."""
    return math.ceil(steps / steps_per_epoch(train_size, batch_size))


def budget_config(recipe, steps, train_size, *, seed=0):
    """The recipe (a TrainConfig) with its epochs set by the step budget and its seed set."""
    return replace(recipe, epochs=epochs_for_budget(steps, train_size, recipe.batch_size), seed=seed)


# ------------------------------------------------------------------------------------ the results file
def load_results(path):
    """All records of a results file (JSON lines); [] if it does not exist.

    An incomplete last line (a run cut off while its record was written) is skipped with a warning;
    a broken line anywhere else raises ValueError (that is not a disconnect: look at the file).
    """
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            if i == len(lines) - 1:
                warnings.warn(f"{path.name}: ignoring an incomplete last line ({len(line)} characters; a run cut "
                              f"off while its result was written). That run will be trained again.", stacklevel=2)
            else:
                raise ValueError(f"{path.name}, line {i + 1} is not valid JSON ({e.msg}); only the last line can be "
                                 f"cut off by a disconnect. Fix or delete that line, or delete the file to start over.") from e
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
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def run_key(record):
    """What identifies a run: (model, train_size, seed)."""
    return record["model"], int(record["train_size"]), int(record["seed"])


# ------------------------------------------------------------------------------------------ the sweep
def _device_name(device):
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def _per_model(value, model, what):
    if isinstance(value, dict):
        if model not in value:
            raise KeyError(f"{what} has no entry for model {model!r} (it has {sorted(value)}).")
        return value[model]
    return value


def run_sweep(models, sizes, seeds, *, pool, test, results_path, steps, recipe=None, val=None,
              profile=None, model_kwargs=None, weights_dir=None, fit_options=None, device=None, log=print):
    """Train every (model, size, seed) not yet in the results file; return the records of the whole grid.

    Args:
        models: model names for build_model ("vit", "lenet", "cnn").
        sizes: training-set sizes; each must be <= len(pool). A size equal to len(pool) is the whole pool
            (not class-balanced); a smaller one is balanced_subset(pool, size, seed=seed).
        seeds: one run per seed; the seed picks the subset, the initial weights, the order and the augmentation.
        pool, test, val: ImageData. The test set (and val, if given) is evaluated once, after training.
        results_path: the JSON-lines file; finished runs found there are skipped.
        steps: the optimizer-step budget of every run (an int, or {model: int}).
        recipe: a TrainConfig (or {model: TrainConfig}); its epochs and seed are set per run.
        model_kwargs: {model: dict of build_model keyword arguments}.
        weights_dir: if given, each run's weights are saved there before its record is written.
        fit_options: extra keyword arguments for train.fit that leave the recipe alone (speed options),
            a dict or a function model -> dict.
        log: called with one line per run (None: silent).
    Order: seed by seed, then size, then model, so a sweep cut short still has whole curves.
    """
    recipe = recipe if recipe is not None else TrainConfig()
    model_kwargs = model_kwargs or {}
    device = torch.device(device) if device is not None else pick_device()
    log = log or (lambda *a, **k: None)
    for size in sizes:
        if size > len(pool):
            raise ValueError(f"train_size {size} is larger than the pool ({len(pool)} images). "
                             f"Use len(pool) for 'all of it'.")
    grid = [(m, int(s), int(sd)) for sd in seeds for s in sizes for m in models]

    _drop_incomplete_tail(results_path)
    done = {run_key(r): r for r in load_results(results_path)}
    todo = [key for key in grid if key not in done]
    for key in grid:
        if key in done:
            _check_same_setup(done[key], _setup(key, recipe, steps, pool, test, val, model_kwargs), results_path)
    log(f"{len(grid)} runs in the grid: {len(grid) - len(todo)} already in {Path(results_path).name}, "
        f"{len(todo)} to train on {_device_name(device)}.")
    if todo:
        pool, test = pool.to(device), test.to(device)
        val = val.to(device) if val is not None else None

    for i, (model_name, size, seed) in enumerate(todo, 1):
        setup = _setup((model_name, size, seed), recipe, steps, pool, test, val, model_kwargs)
        cfg = TrainConfig(**setup["train_config"])
        train = balanced_subset(pool, size, seed=seed)          # == pool when size == len(pool)
        seed_everything(seed)                                    # the initial weights
        model = build_model(model_name, image_size=pool.image_size, in_channels=pool.in_channels,
                            num_classes=pool.num_classes, **setup["model_kwargs"])
        start = time.perf_counter()
        options = fit_options(model) if callable(fit_options) else dict(fit_options or {})
        history = fit(model, train, cfg=cfg, device=device, progress=False, **options)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_time = time.perf_counter() - start
        images = sum(ips * t for ips, t in zip(history["images_per_s"], history["epoch_time"]))
        result = evaluate(model, test, batch_size=cfg.eval_batch_size)    # the test set, once
        val_acc = evaluate(model, val, batch_size=cfg.eval_batch_size).accuracy if val is not None else None
        record = {
            "model": model_name, "train_size": size, "seed": seed,
            "steps": cfg.epochs * steps_per_epoch(size, cfg.batch_size), "epochs": cfg.epochs,
            "batch_size": cfg.batch_size,
            "test_acc": result.accuracy, "test_f1": result.macro_f1, "test_loss": result.loss, "val_acc": val_acc,
            "train_loss": history["train_loss"][-1], "train_acc": history["train_acc"][-1],
            "train_time_s": round(train_time, 3), "images_per_s": round(images / train_time, 1),
            "device": _device_name(device), "profile": str(profile) if profile is not None else None,
            "params": count_parameters(model), "balanced": size < len(pool), **setup,
        }
        if weights_dir is not None:
            save_weights(model, weights_dir, model_name, size, seed)
        append_result(results_path, record)
        done[(model_name, size, seed)] = record
        log(f"[{i}/{len(todo)}] {model_name:>5} on {size:>6,} images, seed {seed}: test acc {result.accuracy:.4f} "
            f"({record['steps']} steps = {cfg.epochs} epochs, {train_time:.1f} s)")
    return [done[key] for key in grid]


def _setup(key, recipe, steps, pool, test, val, model_kwargs):
    """What a record must share with the current settings for a rerun to reuse it."""
    model_name, size, seed = key
    cfg = budget_config(_per_model(recipe, model_name, "recipe"), _per_model(steps, model_name, "steps"), size, seed=seed)
    return {"step_budget": _per_model(steps, model_name, "steps"), "train_config": asdict(cfg),
            "model_kwargs": dict(model_kwargs.get(model_name, {})), "pool_size": len(pool),
            "test_size": len(test), "val_size": len(val) if val is not None else None}


def _check_same_setup(record, setup, path):
    setup = json.loads(json.dumps(setup))                   # as it reads back from the file (tuples -> lists)
    changed = {k: (record.get(k), v) for k, v in setup.items() if record.get(k) != v}
    if changed:
        raise ValueError(
            f"{Path(path).name} holds run {run_key(record)} made with other settings (saved vs now: {changed}). "
            f"Delete the file to start over, or pass another results_path.")


def weights_path(weights_dir, model, train_size, seed):
    return Path(weights_dir) / f"{model}_n{train_size}_seed{seed}.pt"


def save_weights(model, weights_dir, model_name, train_size, seed):
    """Save a run's weights (CPU tensors) atomically."""
    path = weights_path(weights_dir, model_name, train_size, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
    os.replace(tmp, path)
    return path


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


# ------------------------------------------------------------------------- what the ViT learned from data
def position_similarity(pos_embed, grid_size):
    """Cosine similarity between the learned position embeddings of all patch pairs.

    pos_embed: (1, N+1, D) or (N+1, D) with the class token first (or (N, D) without).
    Returns (N, N) with N = grid_size ** 2.
    """
    p = torch.as_tensor(pos_embed).detach().float().cpu().reshape(-1, pos_embed.shape[-1])
    if len(p) == grid_size ** 2 + 1:
        p = p[1:]                                             # drop the class token's position
    if len(p) != grid_size ** 2:
        raise ValueError(f"{len(p)} position embeddings do not fit a {grid_size}x{grid_size} grid.")
    p = torch.nn.functional.normalize(p, dim=-1)              # (N, D), unit length
    return p @ p.T                                            # (N, N)


def locality_score(pos_embed, grid_size):
    """How much the position embeddings encode the 2-D layout: the correlation, over all pairs of
    different patches, between their cosine similarity and minus their distance on the grid.
    About 0 for random embeddings; near 1 when neighbouring patches have the most similar embeddings.
    """
    sim = position_similarity(pos_embed, grid_size)
    rows, cols = torch.meshgrid(torch.arange(grid_size), torch.arange(grid_size), indexing="ij")
    xy = torch.stack([rows.flatten(), cols.flatten()], 1).float()   # (N, 2) grid coordinates
    dist = torch.cdist(xy, xy)                                     # (N, N)
    off = ~torch.eye(len(xy), dtype=torch.bool)
    return float(np.corrcoef(sim[off].numpy(), -dist[off].numpy())[0, 1])
