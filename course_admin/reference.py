"""Make the reference results that every student sees: `python -m course_admin.reference mnist-sweep`.

The MNIST data-size sweep of notebook 06 with the full protocol of `course_utils.experiments`:
1. recipe choice, on the validation set: each model trained with and without augmentation on 600 and
   6,000 images (seed 0); the variant with the higher mean validation accuracy is that model's recipe;
2. the grid with the chosen recipes: 600 to 55,000 images (all of the pool), 3 seeds, four models.
   The 55,000-image runs of seed 0 go first: they are the pretrained checkpoints (`load_pretrained`).
Every finished run is one line of results/mnist_sweep.jsonl; a rerun skips what is there, so the job
can be stopped at any time and resumed (it runs for several hours on 2 CPU cores; `nohup` it).

`python -m course_admin.reference gap-sweep` is notebook 08's grid, same protocol and budgets: SmallCNN and
the ViT variants that put locality back (augmentation, a conv stem, SPT + LSA, distillation from the CNN, a
smaller patch) on 600 and 6,000 images, 3 seeds, on MNIST (results/gap_sweep.jsonl); on Fashion-MNIST
(results/gap_sweep_fashion_mnist.jsonl; one file per data set, since a run is named by model, variant, size
and seed) SmallCNN, the ViT with and without augmentation, and the best ViT variant on MNIST's validation runs.
It takes runs of the same recipe on the same data that other files hold instead of training them again
(--reuse: notebook 06's MNIST runs, Fashion-MNIST's budget check). The distilled ViTs
learn from the CNN run of the same data set, size and seed (its weights are kept under --weights).
`python -m course_admin.reference gap-sweep --dry-run` lists the runs. On a GPU, `--jobs N` trains N runs at once
(one run of these small models leaves a GPU mostly idle) and `--fp32` turns mixed precision off, so the runs made
there are computed like those made on CPUs (plain fp32, no TF32).

`python -m course_admin.reference table` prints the reference tables (mean ± std over seeds, from the results
files); `table --readme` writes them into README.md between its reference markers. A test fails when README's
tables and the results files disagree, so run it after adding results.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from course_utils import analysis, experiments
from course_utils.data import load_dataset, train_val_split
from course_utils.experiments import Budget, Recipe
from course_utils.gap import VARIANTS as GAP_VARIANT_NAMES
from course_utils.plots_sweep import MODEL_NAMES
from course_utils.train import TrainConfig

MODELS = ("lenet", "mlp", "vit", "cnn")
SIZES = (600, 1800, 6000, 18000, 55000)      # 55,000 = all of MNIST's training images minus the 5,000 for validation
SEEDS = (0, 1, 2)
RECIPE_SIZES = (600, 6000)                   # where augmentation on/off is decided (validation accuracy)

BASE = TrainConfig(batch_size=128, lr=2e-3, weight_decay=0.05)   # notebook 05's AdamW + warm-up/cosine recipe
# Budget per model: at least min_steps steps and at least min_epochs epochs (see experiments.Budget).
# The ViT needs more of both to converge than SmallCNN (notebook 05). `budget-check` trains each recipe again
# with twice its budget on 600 and 6,000 images: the evidence that these budgets are long enough (notebook 06
# shows it). Measured 2026-12-01 (seed 0, validation): LeNet and the MLP at 2,000 steps / 30 epochs gained
# 0.4-0.5 points from doubling on 6,000 images, so they get 4,000 / 60. The ViT was doubled twice: at 3,000
# steps doubling gained 0.26 (600 images) and 0.34 points (6,000); at 6,000 steps it gained 0.66 (600) and
# 0.08 (6,000), against SmallCNN's 0.10 and 0.06, so at 600 images the gap to SmallCNN was mostly the ViT's
# short training: it gets 12,000 (2026-12-02). Its runs at the earlier budgets: results/vit_budget_3000.jsonl,
# results/vit_budget_6000.jsonl (and the 12,000-step check of the 6,000 budget: vit_budget_6000_doubled.jsonl).
# Doubling 12,000 once more (24,000 steps, 600 images, seed 0) gained 0.40 points of validation accuracy and
# lost 0.07 of test accuracy: within what one seed can tell, and 33 minutes a run here, so 12,000 it stays;
# notebook 06 shows by how much that check changes SmallCNN's lead at 600 images.
BUDGETS = {"vit": Budget(min_steps=12000, min_epochs=30), "cnn": Budget(min_steps=1000, min_epochs=10),
           "lenet": Budget(min_steps=4000, min_epochs=60), "mlp": Budget(min_steps=4000, min_epochs=60)}
# Notebook 08's runs on another data set: BUDGETS with these models' budgets multiplied. On Fashion-MNIST, doubling
# SmallCNN's MNIST budget (cnn_augment, seed 0, validation) gained 0.18 points on 600 images but 0.98 on 6,000
# (89.30 -> 90.28 %, train accuracy still 96.4 %; results/budget_check_fashion_mnist_round1.jsonl, 2026-12-03), so
# there SmallCNN trained twice as long (2,000 steps / 20 epochs). Doubling that and the ViT's 12,000 steps (seed 0,
# validation; results/budget_check_fashion_mnist_round2.jsonl, 2026-12-04) gained 0.50 points for SmallCNN on 6,000
# images (train accuracy 96.4 -> 99.3 %) and 0.82 / 0.76 points for the ViT on 600 / 6,000 (test accuracy moved by
# +0.29 for SmallCNN, -0.02 / -0.10 for the ViT): by notebook 06's rule (the ViT's budget was doubled for a gain of 0.66,
# kept for 0.40; LeNet's and the MLP's doubled for 0.4-0.5) neither had converged, so on Fashion-MNIST SmallCNN trains
# 4x its MNIST budget and the ViT 2x. The grid at the earlier budgets (one seed): gap_sweep_fashion_mnist_round1.jsonl.
# `budget-check --dataset fashion_mnist` doubles these budgets in turn.
DATASET_BUDGET_FACTORS = {"fashion_mnist": {"cnn": 4, "vit": 2}}
BUDGET_CHECK_SIZES = (600, 6000)
VARIANTS = ("augment", "plain")


def gap_budgets(dataset):
    """{model: Budget} of notebook 08's reference runs on `dataset`: BUDGETS, times DATASET_BUDGET_FACTORS there."""
    factors = DATASET_BUDGET_FACTORS.get(dataset, {})
    return {m: Budget(min_steps=b.min_steps * factors.get(m, 1), min_epochs=b.min_epochs * factors.get(m, 1))
            for m, b in BUDGETS.items()}


def recipe(model, variant):
    return Recipe(model, replace(BASE, augment=variant == "augment"), BUDGETS[model], variant=variant)


def analyse(probe_images):
    """What each ViT run records besides accuracy: attention distance per layer and head, position locality."""
    def fn(model, record):
        if record["model"] != "vit":
            return {}
        grid = model.cfg.image_size // model.cfg.patch_size
        return {"attention_distance": analysis.attention_distances(model, probe_images).tolist(),
                "locality": analysis.locality_score(model.pos_embed, grid)}
    return fn


def fit_options(model):
    # channels-last memory speeds SmallCNN's convolutions up by ~25% on these CPUs; it changes no recipe.
    return {"channels_last": sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) > 1}


def dataset_sets(dataset="mnist"):
    """The pool of training images (all but 5,000), the 5,000 validation images and the test set of every run on
    `dataset` (notebook 06's MNIST runs and notebook 08's runs on either data set split it the same way)."""
    pool, val = train_val_split(load_dataset(dataset, "train"), val_size=5000, seed=0)
    return pool, val, load_dataset(dataset, "test")


def mnist_sweep(args):
    pool, val, test = dataset_sets("mnist")
    common = dict(pool=pool, val=val, test=test, results_path=args.out, profile="reference",
                  analyse=analyse(val.normalize(val.images[:1000])), fit_options=fit_options, device=args.device)
    models = [m for m in MODELS if m in args.models]
    # 1. the recipe: augmentation on or off, judged on validation
    stage1 = [(recipe(m, v), s, 0) for m in models for s in RECIPE_SIZES for v in VARIANTS]
    keep = lambda r: r["seed"] == 0 and (r["model"] in ("vit", "cnn", "lenet") or r["train_size"] == SIZES[-1])
    records = experiments.run_sweep(stage1, weights_dir=args.weights, save_weights_for=keep, **common)
    chosen = {m: experiments.choose_variant(records, m, VARIANTS)[0] for m in models}
    print("recipes chosen on validation:", chosen, flush=True)
    if args.stop_after == "recipes":
        return
    # 2. the grid, the checkpoints first
    recipes = [recipe(m, chosen[m]) for m in models]
    runs = [(r, SIZES[-1], 0) for r in recipes] + experiments.grid(recipes, SIZES, args.seeds)
    runs = list(dict.fromkeys((r.model, r.variant, s, sd) for r, s, sd in runs))
    by_name = {(r.model, r.variant): r for r in recipes}
    runs = [(by_name[(m, v)], s, sd) for m, v, s, sd in runs]
    experiments.run_sweep(runs, weights_dir=args.weights, save_weights_for=keep, **common)


def budget_check(args):
    """Each model's chosen recipe trained again with twice its budget (600 and 6,000 images, seed 0), into
    results/budget_check.jsonl; prints validation accuracy at 1x and 2x. A budget is long enough when doubling
    it changes little (the grid's runs are the 1x ones).

    --dataset fashion_mnist checks notebook 08's runs on that data set instead: the recipe (augmentation on or off)
    is chosen on validation among its runs (cnn_augment / cnn_plain, vit_augment / vit_plain), the doubled runs go
    to results/budget_check_fashion_mnist.jsonl."""
    mnist = args.dataset == "mnist"
    sweep_path = args.sweep or (Path("results/mnist_sweep.jsonl") if mnist
                                else gap_results_path("results/gap_sweep.jsonl", args.dataset))
    out = args.out or Path("results/budget_check.jsonl" if mnist else f"results/budget_check_{args.dataset}.jsonl")
    sweep = experiments.load_results(sweep_path)
    pool, val, test = dataset_sets(args.dataset)
    runs = []
    for m in [m for m in MODELS if m in args.models]:
        names = VARIANTS if mnist else tuple(f"{m}_{v}" for v in VARIANTS)
        try:
            variant = experiments.choose_variant(sweep, m, names)[0]
        except ValueError:
            print(f"{m}: no recipe chosen yet in {sweep_path} (its runs with and without augmentation are "
                  f"missing: run {'mnist-sweep --stop-after recipes' if mnist else 'gap-sweep'} first); skipped")
            continue
        if mnist:
            once = recipe(m, variant)
        else:
            from course_utils import gap
            once = gap.variant_recipe(variant, BASE, gap_budgets(args.dataset))
        twice = replace(once, budget=Budget(min_steps=2 * once.budget.min_steps, min_epochs=2 * once.budget.min_epochs))
        runs += [(twice, s, 0) for s in args.sizes]
    experiments.run_sweep(runs, pool=pool, val=val, test=test, results_path=out,
                          profile="reference", fit_options=fit_options, device=args.device)
    rows = experiments.budget_doubling(sweep, experiments.load_results(out))
    for r in rows:
        print(f"{r['model']:>5} ({r['variant']}) {r['train_size']:>6,} images: val {r['val_acc_1x']:.4f} with "
              f"{r['steps_1x']:,} steps, {r['val_acc_2x']:.4f} with {r['steps_2x']:,} ({r['gain']:+.4f})")


# ---------------------------------------------------------------------------------------- notebook 08
GAP_DATASETS = ("mnist", "fashion_mnist")
GAP_SIZES = (600, 6000)


def gap_results_path(out, dataset):
    """results/gap_sweep.jsonl for MNIST, results/gap_sweep_<dataset>.jsonl for another data set."""
    out = Path(out)
    return out if dataset == "mnist" else out.with_name(f"{out.stem}_{dataset}{out.suffix}")


# The reference grid of notebook 08. On MNIST every variant but the combination conv stem + distillation (about
# 3.9 plain-ViT runs of CPU time each; pass --variants to add it). On the second data set the comparison the notebook
# makes there: SmallCNN and the ViT with and without augmentation, and the best ViT variant on MNIST.
GAP_REFERENCE_VARIANTS = tuple(v for v in GAP_VARIANT_NAMES if v != "vit_stem_distill")
GAP_SECOND_VARIANTS = ("cnn_augment", "cnn_plain", "vit_plain", "vit_augment")


def best_gap_variant(records, size=GAP_SIZES[0]):
    """The ViT variant with the highest mean validation accuracy at `size` over the seeds every ViT variant has
    run (as notebook 08 chooses it: on validation, at the smallest size), or None if there is no such seed."""
    at_size = [r for r in records if r["model"] == "vit" and r["train_size"] == size]
    variants = sorted({r["variant"] for r in at_size})
    try:
        return experiments.choose_variant(at_size, "vit", variants)[0] if variants else None
    except ValueError:
        return None


def gap_variants(args, dataset):
    """The variants to train on `dataset`: --variants if given, else the reference list of that data set."""
    if args.variants:
        return list(args.variants)
    if dataset == "mnist":
        return list(GAP_REFERENCE_VARIANTS)
    mnist = gap_results_path(args.out, "mnist")
    best = best_gap_variant(experiments.load_results(mnist)) if Path(mnist).exists() else None
    if best is None:
        print(f"{dataset}: no best ViT variant yet (it is chosen on MNIST's validation runs in {mnist}); "
              f"training {', '.join(GAP_SECOND_VARIANTS)} only", flush=True)
    return list(dict.fromkeys([*GAP_SECOND_VARIANTS, *([best] if best else [])]))


def plain_fp32():
    """Mixed precision off and no TF32 in this process (a CLI run; --jobs passes --fp32 to its processes instead)."""
    os.environ["COURSE_AMP"] = "0"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def gap_sweep(args):
    from course_utils import gap

    def budgets(dataset):
        if args.budget_steps:                            # only to try the runner out on tiny budgets
            return {m: Budget(min_steps=args.budget_steps, min_epochs=1) for m in BUDGETS}
        return gap_budgets(dataset)

    variants = {d: gap_variants(args, d) for d in args.datasets}
    if args.dry_run:
        plan = [(d, sd, s, v) for d in args.datasets for sd in args.seeds for s in args.sizes for v in variants[d]]
        for d, sd, s, v in plan:
            print(f"{d:>13} seed {sd} {s:>6,} images {v}")
        print(f"{len(plan)} runs")
        return
    if args.jobs > 1:
        return gap_sweep_parallel(args, variants)     # its processes get --fp32; this one trains nothing
    if args.fp32:
        plain_fp32()
    for dataset in args.datasets:
        pool, val, test = dataset_sets(dataset)
        gap.run_gap_sweep(variants[dataset], args.sizes, args.seeds, pool=pool, val=val, test=test,
                          results_path=gap_results_path(args.out, dataset), base=BASE, budgets=budgets(dataset),
                          weights_dir=Path(args.weights) / dataset, device=args.device, profile="reference",
                          # runs other files hold with the same recipe and data, not trained twice: notebook 06's
                          # (plain and augmented ViT, SmallCNN on MNIST), a budget check's doubled runs (the budgets now)
                          reuse_from=args.reuse if args.budget_steps == 0 else None,
                          reuse_weights_dir=Path(args.reuse[0]).parent / "weights")


def _gap_plan(args, variants):
    """The runs of the grid not yet in their results files, (dataset, variant, size, seed), in gap-sweep's order,
    and what each must wait for: a distilled ViT waits for its teacher's run (or the distilled run before it on
    the same images, which trains the teacher when only its record is there)."""
    from course_utils import gap

    plan, after = [], {}
    for d in args.datasets:
        done = {experiments.run_key(r)[1:] for r in experiments.load_results(gap_results_path(args.out, d))}
        for sd in args.seeds:
            for s in args.sizes:
                previous = None
                for v in gap.with_teacher(variants[d]):
                    if (v, s, sd) in done:
                        continue
                    job = (d, v, s, sd)
                    if v == gap.TEACHER or gap.is_distilled(v):
                        after[job] = previous if gap.is_distilled(v) else None
                        previous = job
                    plan.append(job)
    return plan, after


def _gap_job(job, args, scratch):
    """Train one run in a process of its own, into a scratch copy of its results file; return its new records."""
    d, v, s, sd = job
    folder = Path(scratch) / f"{d}_{v}_{s}_{sd}"
    folder.mkdir()
    out = folder / Path(args.out).name
    if gap_results_path(args.out, d).exists():
        shutil.copyfile(gap_results_path(args.out, d), gap_results_path(out, d))
    cmd = [sys.executable, "-m", "course_admin.reference", "gap-sweep", "--datasets", d, "--variants", v,
           "--sizes", str(s), "--seeds", str(sd), "--out", str(out), "--weights", str(args.weights),
           "--reuse", *map(str, args.reuse), "--budget-steps", str(args.budget_steps)]
    cmd += (["--device", args.device] if args.device else []) + (["--fp32"] if args.fp32 else [])
    threads = str(max(1, (os.cpu_count() or 1) // args.jobs))        # the processes share the CPU cores
    env = {**os.environ, "OMP_NUM_THREADS": threads, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
        raise RuntimeError(f"exit code {proc.returncode}; its last lines:\n{tail}")
    return [r for r in experiments.load_results(gap_results_path(out, d))
            if (r.get("variant"), r["train_size"], r["seed"]) == (v, s, sd)]


def gap_sweep_parallel(args, variants):
    """gap-sweep --jobs N: every missing run in a process of its own, N at a time. Only this process appends to the
    results files, each run as it finishes, so a stop loses only the runs in flight; a failed run is reported and
    the others go on. --stop-starting-after: no run starts after that many seconds (those in flight finish)."""
    plan, after = _gap_plan(args, variants)
    print(f"{len(plan)} runs to train, {args.jobs} at a time", flush=True)
    pending, running, finished, failed = list(plan), {}, set(), set()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch, ThreadPoolExecutor(args.jobs) as pool:
        while pending or running:
            late = args.stop_starting_after and time.perf_counter() - start > args.stop_starting_after
            while not late and len(running) < args.jobs:
                job = next((j for j in pending if after.get(j) is None or after[j] in finished), None)
                if job is None:
                    break
                pending.remove(job)
                running[pool.submit(_gap_job, job, args, scratch)] = job
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                job = running.pop(future)
                d, v, s, sd = job
                try:
                    records = future.result()
                    if not records:
                        raise RuntimeError("its process ended without writing the run's record")
                except Exception as e:                               # one run's failure stops no other run
                    failed.add(job)
                    print(f"FAILED {d} {v} on {s:,} images, seed {sd}: {e}", flush=True)
                    continue
                for r in records:             # its training time was shared with up to jobs - 1 other runs
                    experiments.append_result(gap_results_path(args.out, d), {**r, "parallel_jobs": args.jobs})
                finished.add(job)
                r = records[-1]
                print(f"[{len(finished)}/{len(plan)}, {time.perf_counter() - start:.0f} s] {d} {v} on {s:,} images, "
                      f"seed {sd}: test {r['test_acc']:.4f}, val {r['val_acc']:.4f} ({r['train_time_s']:.0f} s)",
                      flush=True)
    print(f"{len(finished)} runs trained, {len(failed)} failed, {len(pending)} not started "
          f"({time.perf_counter() - start:.0f} s)", flush=True)
    return len(failed) == 0


# ---------------------------------------------------------------------------------------- tables
README_START = "<!-- reference:start (generated by `python -m course_admin.reference table --readme`) -->"
README_END = "<!-- reference:end -->"


def _cell(values):
    """mean ± sample std in percent, with n when it is not the full 3 seeds."""
    v = 100 * np.array(values)
    text = f"{v.mean():.2f}" + (f" ± {v.std(ddof=1):.2f}" if len(v) > 1 else "")
    return text + ("" if len(v) == len(SEEDS) else f" (n={len(v)})")


DATASET_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
PRECISION_NAMES = {"float32": "plain fp32", "bfloat16": "bf16 mixed precision", "float16": "fp16 mixed precision"}


def _runs(n):
    return f"{n} run" + ("" if n == 1 else "s")


def _duration(seconds):
    """Training time as a reader wants it: minutes under an hour, else hours with one decimal."""
    return f"{seconds / 60:.0f} minutes" if seconds < 3600 else f"{seconds / 3600:.1f} hours"


def _grid_table(groups, rows, sizes, names):
    """Markdown: one row per key of `rows`, one column per size; groups[(row, size)] = list of test accuracies."""
    lines = ["| | " + " | ".join(f"{s:,}" for s in sizes) + " |", "|---|" + "---:|" * len(sizes)]
    for row in rows:
        cells = [_cell(groups[(row, s)]) if groups.get((row, s)) else "–" for s in sizes]
        lines.append(f"| {names(row)} | " + " | ".join(cells) + " |")
    return lines


def reference_tables(sweep_path, gap_path):
    """The Markdown of the reference tables: notebook 06's grid (each model's chosen recipe) and, where its results
    exist, notebook 08's variants per data set; with the runs and training hours they hold."""
    records = experiments.load_results(sweep_path)
    models = [m for m in ("vit", "cnn", "lenet", "mlp") if any(r["model"] == m for r in records)]
    chosen = {m: experiments.choose_variant(records, m, VARIANTS)[0] for m in models}
    grid = [r for r in records if r.get("variant") == chosen[r["model"]] and r["train_size"] in SIZES]
    groups = {}
    for r in grid:
        groups.setdefault((r["model"], r["train_size"]), []).append(r["test_acc"])
    seconds = sum(r["train_time_s"] for r in records)
    out = [f"**MNIST, notebook 06** (`{Path(sweep_path).as_posix()}`): test accuracy in %, mean ± sample std over "
           f"seeds (3 unless n says otherwise), by number of training images (55,000 = all 60,000 but the 5,000 held "
           f"out for validation); each model with the recipe chosen on "
           f"validation ({', '.join(f'{MODEL_NAMES[m]} {chosen[m]}' for m in models)}). "
           f"{len(grid)} of {len(SIZES) * len(models) * len(SEEDS)} grid runs; {_runs(len(records))} in the file, "
           f"{_duration(seconds)} of training.", ""]
    out += _grid_table(groups, models, SIZES, MODEL_NAMES.get)
    # the pretrained checkpoints (`load_pretrained`): seed 0 on all 55,000 images, its weights under results/weights
    ckpt = [r for r in grid if r["seed"] == 0 and r["train_size"] == SIZES[-1] and r["model"] != "mlp"]
    if ckpt:
        out += ["", "Pretrained checkpoints (`load_pretrained(name)`, seed 0 on 55,000 images), MNIST test accuracy: "
                + ", ".join(f"{MODEL_NAMES[r['model']]} (`{r['model']}`) {100 * r['test_acc']:.2f} %"
                            for r in sorted(ckpt, key=lambda r: models.index(r["model"]))) + "."]
    for dataset in GAP_DATASETS:
        path = gap_results_path(gap_path, dataset)
        if not Path(path).exists():
            continue
        gap_records = experiments.load_results(path)
        groups = {}
        for r in gap_records:
            groups.setdefault((r["variant"], r["train_size"]), []).append(r["test_acc"])
        order = list(GAP_VARIANT_NAMES)                # the variants' own order, whichever ran first
        variants = sorted({v for v, _ in groups}, key=lambda v: (order.index(v) if v in order else len(order), v))
        trained = [r for r in gap_records if "reused_from" not in r]
        sources = Counter(r["reused_from"].split(",")[0] for r in gap_records if "reused_from" in r)
        on_cpu = [r for r in trained if r.get("device", "cpu") == "cpu"]
        on_gpu = [r for r in trained if r.get("device", "cpu") != "cpu"]
        gpus = sorted({r["device"].removeprefix("cuda (").removesuffix(")") for r in on_gpu})
        precisions = sorted({PRECISION_NAMES.get(r.get("precision"), "mixed precision") for r in on_gpu})
        notes = [f"{n} taken from `{name}`" for name, n in sources.items()] + ([
            f"{len(on_gpu)} trained on {' and '.join(gpus)} in {' and '.join(precisions)}, up to "
            f"{max(r.get('parallel_jobs', 1) for r in on_gpu)} at a time"] if on_gpu else [])
        out += ["", f"**{DATASET_NAMES.get(dataset, dataset)}, notebook 08** (`{Path(path).as_posix()}`): test "
                f"accuracy in %, as above; {_runs(len(gap_records))}" + (f" ({'; '.join(notes)})" if notes else "")
                + f", {_duration(sum(r['train_time_s'] for r in on_cpu))} of training on 2 CPU cores.", ""]
        out += _grid_table(groups, variants, GAP_SIZES, lambda v: f"`{v}`")
    return "\n".join(out)


def table(args):
    text = reference_tables(args.sweep, args.gap)
    print(text)
    if args.readme:
        readme = Path(args.readme)
        old = readme.read_text(encoding="utf-8")
        if README_START not in old or README_END not in old:
            raise SystemExit(f"{readme} has no reference markers; add these two lines where the tables go:\n"
                             f"{README_START}\n{README_END}")
        head, rest = old.split(README_START, 1)
        new = f"{head}{README_START}\n{text}\n{README_END}{rest.split(README_END, 1)[1]}"
        readme.write_text(new, encoding="utf-8")
        print(f"{readme}: {'updated' if new != old else 'already current'}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("mnist-sweep", help="the reference data-size sweep of notebook 06 (resumable)")
    p.add_argument("--out", type=Path, default=Path("results/mnist_sweep.jsonl"))
    p.add_argument("--weights", type=Path, default=Path("results/weights"))
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    p.add_argument("--device", default=None)
    p.add_argument("--stop-after", choices=["recipes"], default=None,
                   help="stop once augmentation on/off is chosen for every model (before the grid)")
    b = sub.add_parser("budget-check", help="each chosen recipe again with twice its budget (600 and 6,000 images)")
    b.add_argument("--dataset", default="mnist", choices=GAP_DATASETS,
                   help="mnist: notebook 06's recipes; fashion_mnist: notebook 08's runs on it")
    b.add_argument("--sweep", type=Path, default=None,
                   help="the 1x runs (default results/mnist_sweep.jsonl, or notebook 08's file of --dataset)")
    b.add_argument("--out", type=Path, default=None,
                   help="default results/budget_check.jsonl, results/budget_check_<dataset>.jsonl for another")
    b.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    b.add_argument("--sizes", nargs="+", type=int, default=list(BUDGET_CHECK_SIZES), choices=BUDGET_CHECK_SIZES)
    b.add_argument("--device", default=None)
    g = sub.add_parser("gap-sweep", help="notebook 08's grid: the ViT variants against SmallCNN (resumable)")
    g.add_argument("--out", type=Path, default=Path("results/gap_sweep.jsonl"),
                   help="MNIST's results file; other data sets get _<name> added to its name")
    g.add_argument("--weights", type=Path, default=Path("runs/gap_sweep_teachers"),
                   help="where the teachers' (cnn_augment) weights are kept, per data set")
    g.add_argument("--datasets", nargs="+", default=list(GAP_DATASETS), choices=["mnist", "fashion_mnist", "cifar10"])
    g.add_argument("--variants", nargs="+", default=None, choices=list(GAP_VARIANT_NAMES),
                   help="default: on MNIST all but vit_stem_distill; on another data set SmallCNN and the ViT with and "
                        "without augmentation, plus the best ViT variant on MNIST's validation runs")
    g.add_argument("--sizes", nargs="+", type=int, default=list(GAP_SIZES))
    g.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    g.add_argument("--reuse", type=Path, nargs="+",
                   default=[Path("results/mnist_sweep.jsonl"), Path("results/budget_check_fashion_mnist_round2.jsonl")],
                   help="runs of the same recipe on the same data taken from these files instead of trained again "
                        "(default: notebook 06's MNIST runs; Fashion-MNIST's budget check at the budgets used now)")
    g.add_argument("--budget-steps", type=int, default=0, help="override every budget (to try the runner out)")
    g.add_argument("--dry-run", action="store_true", help="list the runs and stop")
    g.add_argument("--device", default=None)
    g.add_argument("--fp32", action="store_true",
                   help="no mixed precision and no TF32 on a GPU: computed like the runs made on CPUs")
    g.add_argument("--jobs", type=int, default=1,
                   help="train this many runs at once, each in a process of its own (a GPU has room for several)")
    g.add_argument("--stop-starting-after", type=float, default=0, metavar="SECONDS",
                   help="with --jobs: start no run after this many seconds (for a machine lent for a fixed time)")
    t = sub.add_parser("table", help="print the reference tables (mean ± std over seeds) from the results files")
    t.add_argument("--sweep", type=Path, default=Path("results/mnist_sweep.jsonl"))
    t.add_argument("--gap", type=Path, default=Path("results/gap_sweep.jsonl"),
                   help="notebook 08's MNIST results file; other data sets get _<name> added to its name")
    t.add_argument("--readme", nargs="?", const=Path("README.md"), type=Path, default=None,
                   help="also write the tables into this README (default README.md) between its reference markers")
    args = parser.parse_args(argv)
    if args.command == "table":
        table(args)
    elif args.command == "mnist-sweep":
        mnist_sweep(args)
    elif args.command == "budget-check":
        budget_check(args)
    elif args.command == "gap-sweep":
        return 1 if gap_sweep(args) is False else 0       # False: a run of --jobs failed
    return 0


if __name__ == "__main__":
    sys.exit(main())
