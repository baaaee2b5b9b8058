"""Closing the gap: the ViT variants of notebook 08 as named recipes, and the sweep that trains them.

Each variant puts back some of the inductive bias a CNN has and a plain ViT lacks, in one of four places:
(a) the data (augmentation), (b) the architecture (a conv stem; shifted patches + locality self-attention),
(c) a teacher (distillation from the trained SmallCNN), (d) the tokens (smaller patches, more of them).
Every variant is an option of the library's own ViT (`ViTConfig` fields, `TrainConfig.augment`,
`distill.distillation_loss_fn`), never a copy of it. The name of a variant is the `variant` field of its
records; the protocol and budgets are those of `experiments` (notebook 06).

`run_gap_sweep` trains the CNN teacher of each (size, seed) first and keeps its weights, then the ViTs;
distilled ViTs learn from the teacher trained on the same images. Resumable like `experiments.run_sweep`,
and it can take runs another sweep already made with the very same recipe (`reuse_from`) instead of training them.
"""
import shutil
from dataclasses import replace
from pathlib import Path

import torch

from . import experiments
from .distill import distillation_loss_fn
from .experiments import Recipe, weights_path
from .models import build_model

# name: (model, augment, model_kwargs, distilled from the CNN teacher)
VARIANTS = {
    "cnn_augment": ("cnn", True, {}, False),            # the baseline, and the teacher of the distilled ViTs
    "cnn_plain": ("cnn", False, {}, False),
    "vit_plain": ("vit", False, {}, False),             # notebook 05's ViT as it is
    "vit_augment": ("vit", True, {}, False),            # (a) bias through the data
    "vit_conv_stem": ("vit", True, {"tokenizer": "conv_stem"}, False),          # (b) a conv stem
    "vit_spt_lsa": ("vit", True, {"tokenizer": "spt", "lsa": True}, False),     # (b) Lee et al. 2021
    "vit_distill": ("vit", True, {}, True),             # (c) DeiT's hard distillation
    "vit_patch4": ("vit", True, {"patch_size": 4}, False),                      # (d) 4x4 patches: 49 tokens
    "vit_stem_distill": ("vit", True, {"tokenizer": "conv_stem"}, True),        # (b) + (c)
}
TEACHER = "cnn_augment"
DISTILL = dict(alpha=0.5, hard=True)    # DeiT: half the loss from the labels, half from the teacher's top class


def variant_recipe(variant, base, budgets, vit_kwargs=None):
    """The Recipe of a variant: `base` TrainConfig with its augmentation, `budgets` {model: Budget}.

    vit_kwargs: ViTConfig fields for every ViT variant (its own fields win), e.g. {"patch_size": 8} for 32x32 images.
    """
    if variant not in VARIANTS:
        raise ValueError(f"Unknown variant {variant!r}. Choose from {', '.join(VARIANTS)}.")
    model, augment, kwargs, _ = VARIANTS[variant]
    kwargs = {**(vit_kwargs or {}), **kwargs} if model == "vit" else dict(kwargs)
    return Recipe(model, replace(base, augment=augment), budgets[model], variant=variant, model_kwargs=kwargs)


def is_distilled(variant):
    return VARIANTS[variant][3]


def with_teacher(variants):
    """The variants in training order: the teacher first, added when a distilled variant needs it."""
    variants = list(variants)
    if any(is_distilled(v) for v in variants) and TEACHER not in variants:
        variants.insert(0, TEACHER)
    return sorted(variants, key=lambda v: v != TEACHER)


def _conv_options(model):
    # channels-last memory speeds convolutions up on CPUs; it changes no recipe
    return {"channels_last": sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) > 1}


def run_gap_sweep(variants, sizes, seeds, *, pool, val, test, results_path, base, budgets, weights_dir,
                  vit_kwargs=None, device=None, profile=None, fit_options=_conv_options, log=print,
                  reuse_from=None, reuse_weights_dir=None):
    """Train every (variant, size, seed) not yet in `results_path`; return all their records, in order.

    Seed by seed, size by size (so a sweep cut short has whole tables): the teacher (TEACHER) first, its
    weights saved under weights_dir, then the other variants; distilled ones with a loss_fn that asks the
    teacher. A teacher whose record is there but whose weights are not is trained again (seeded: the same).

    reuse_from: another sweep's results file or a list of them (e.g. notebook 06's mnist_sweep.jsonl). A run one
        holds with the same model, size, seed, data and recipe (budget, train config, model options) is copied into
        results_path, its variant renamed and marked "reused_from", instead of being trained again; a teacher's weights are
        copied too, from reuse_weights_dir, where they are (else the teacher is retrained when a ViT needs it).
    """
    variants = with_teacher(variants)
    common = dict(pool=pool, val=val, test=test, results_path=results_path, profile=profile, device=device,
                  weights_dir=weights_dir, save_weights_for=lambda r: r["variant"] == TEACHER, log=log)
    records = {}
    for seed in seeds:
        for size in sizes:
            plain = [(variant_recipe(v, base, budgets, vit_kwargs), size, seed) for v in variants if not is_distilled(v)]
            _copy_reusable(plain, reuse_from, reuse_weights_dir, pool, val, test, results_path, weights_dir, log)
            for (recipe, *_), record in zip(plain, experiments.run_sweep(plain, fit_options=fit_options, **common)):
                records[(recipe.variant, size, seed)] = record
            for v in (v for v in variants if is_distilled(v)):
                teacher, record = _teacher(size, seed, pool, val, test, base, budgets, weights_dir, device, fit_options,
                                           records[(TEACHER, size, seed)])

                def options(model, teacher=teacher):
                    loss_fn = distillation_loss_fn(teacher, **DISTILL)     # it follows the data to fit's device
                    return {**fit_options(model), "loss_fn": loss_fn}

                info = {"teacher": {"variant": TEACHER, "test_acc": record["test_acc"], "val_acc": record["val_acc"],
                                    **DISTILL}}
                run = [(variant_recipe(v, base, budgets, vit_kwargs), size, seed)]
                records[(v, size, seed)] = experiments.run_sweep(run, fit_options=options,
                                                                 analyse=lambda m, r, info=info: info, **common)[0]
    order = [(v, s, sd) for sd in seeds for s in sizes for v in variants]
    return [records[k] for k in order]


def _copy_reusable(runs, reuse_from, reuse_weights_dir, pool, val, test, results_path, weights_dir, log):
    """Append to results_path each run of `runs` it lacks that reuse_from (a file or a list of files) holds with the
    same setup."""
    files = [reuse_from] if isinstance(reuse_from, (str, Path)) else list(reuse_from or [])
    others = [(Path(f), r) for f in files if Path(f).exists() for r in experiments.load_results(f)]
    if not others:
        return
    done = {experiments.run_key(r) for r in experiments.load_results(results_path)}
    for recipe, size, seed in runs:
        if (recipe.model, recipe.variant, size, seed) in done:
            continue
        for file, old in others:
            if not experiments.same_run(old, recipe, size, seed, pool, test, val):
                continue
            source = f"{file.name}, variant {old['variant']}"
            experiments.append_result(results_path, {**old, "variant": recipe.variant, "reused_from": source})
            src = reuse_weights_dir and weights_path(reuse_weights_dir, recipe.model, size, seed, old["variant"])
            if recipe.variant == TEACHER and src and Path(src).exists():
                dst = weights_path(weights_dir, recipe.model, size, seed, recipe.variant)
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
            if log:
                log(f"{recipe.model} ({recipe.variant}) on {size:,} images, seed {seed}: reused from {source}")
            break


def _teacher(size, seed, pool, val, test, base, budgets, weights_dir, device, fit_options, record):
    """The trained teacher of (size, seed), in eval mode, and its record."""
    path = weights_path(weights_dir, "cnn", size, seed, TEACHER)
    if not Path(path).exists():
        device = torch.device(device) if device is not None else experiments.pick_device()
        record = experiments.train_one(variant_recipe(TEACHER, base, budgets), size, seed, pool=pool.to(device),
                                       val=val.to(device), test=test.to(device), device=device,
                                       fit_options=fit_options, weights_dir=weights_dir)
    teacher = build_model("cnn", image_size=pool.image_size, in_channels=pool.in_channels, num_classes=pool.num_classes)
    teacher.load_state_dict(torch.load(path, weights_only=True))
    return teacher.eval(), record
