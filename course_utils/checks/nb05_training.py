"""Checks of notebook 05_training."""
import math

import torch
import torch.nn.functional as F
from torch import nn

from .core import as_int, call, describe, guarded, report


def _lr_factor(step, total_steps, warmup_steps, final_factor=0.0):
    """The course's schedule (train.warmup_cosine), with a floor: linear warm-up, then cosine to final_factor."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return final_factor + (1 - final_factor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _lr_variants(step, total, warmup, final):
    """Classic wrong schedules, each with its hint (checked in this order)."""
    progress = (step - warmup) / max(1, total - warmup)
    ramp = (step + 1) / warmup
    cos = 0.5 * (1 + math.cos(math.pi * progress))
    return {
        "step 0 gets a factor of 0, so the first update does nothing; step 0 should get 1 / warmup_steps":
            step / warmup if step < warmup else _lr_factor(step, total, warmup, final),
        "there is no warm-up: the first step already uses the full learning rate":
            final + (1 - final) * 0.5 * (1 + math.cos(math.pi * step / total)),
        "the cosine is counted from step 0, so the factor jumps down when the warm-up ends; count it from the end "
        "of the warm-up": ramp if step < warmup else final + (1 - final) * 0.5 * (1 + math.cos(math.pi * step / total)),
        "the floor is ignored: the cosine must end at final_factor, not at 0": ramp if step < warmup else cos,
        "the floor is added on top of the cosine, so the factor starts above 1: scale the cosine to run from 1 "
        "down to final_factor": ramp if step < warmup else final + cos,
        "the cosine ends at final_factor but does not start at 1 (it is multiplied by final_factor's complement "
        "the wrong way)": ramp if step < warmup else final * cos + (1 - final),
        "the factor goes negative: cos(pi * progress) runs from 1 to -1; rescale it":
            ramp if step < warmup else final + (1 - final) * math.cos(math.pi * progress),
        "the cosine rises again at the end: that is a whole period, the schedule is half of one":
            ramp if step < warmup else final + (1 - final) * 0.5 * (1 + math.cos(2 * math.pi * progress)),
        "the cosine does not reach its end at the last step: progress is the share of the steps AFTER the warm-up":
            ramp if step < warmup else final + (1 - final) * 0.5 * (1 + math.cos(math.pi * (step - warmup) / total)),
        "that is a linear decay after the warm-up; the schedule is half a cosine":
            ramp if step < warmup else final + (1 - final) * (1 - progress),
    }


@guarded
def check_warmup_cosine(fn, exercise="warmup_cosine"):
    """fn(step, total_steps, warmup_steps, final_factor) -> lr factor: linear warm-up, then half a cosine down to
    final_factor at the end (train.warmup_cosine is the case final_factor = 0)."""
    for total, warmup, final in [(100, 10, 0.0), (37, 5, 0.1), (1000, 1, 0.0), (50, 20, 0.5), (12, 3, 0.01)]:
        got = []
        for step in range(total):
            out, err = call(fn, step, total, warmup, final)
            if err:
                return report(exercise, False, f"{err} (step={step}, total_steps={total}, warmup_steps={warmup}, "
                                               f"final_factor={final}).")
            if isinstance(out, bool) or not (isinstance(out, (int, float)) or as_int(out) is not None
                                             or (torch.is_tensor(out) and out.numel() == 1)):
                try:
                    import numpy as np
                    ok = isinstance(out, np.floating)
                except ImportError:
                    ok = False
                if not ok:
                    return report(exercise, False, f"returned {describe(out)} at step {step}; expected a number (the "
                                                   f"factor that multiplies the peak learning rate).")
            got.append(float(out))
        expected = [_lr_factor(s, total, warmup, final) for s in range(total)]
        if all(abs(a - b) < 1e-6 for a, b in zip(got, expected)):
            continue
        where = next(s for s in range(total) if abs(got[s] - expected[s]) >= 1e-6)
        curves = {}
        for s in range(total):
            for h, value in _lr_variants(s, total, warmup, final).items():
                curves.setdefault(h, []).append(value)
        hint = next((h for h, curve in curves.items() if all(abs(a - b) < 1e-6 for a, b in zip(got, curve))), None)
        if hint is None:
            if max(got) > 1 + 1e-6:
                hint = "the factor goes above 1: it multiplies the peak learning rate, so it peaks at exactly 1"
            elif abs(got[-1] - expected[-1]) > 0.02:
                hint = f"the last step's factor is {got[-1]:.3f}; the schedule should end near final_factor = {final}"
            elif where < warmup:
                hint = "the warm-up rises linearly from 1 / warmup_steps at step 0 to 1 at step warmup_steps - 1"
            else:
                hint = "after the warm-up, half a cosine from 1 (at step warmup_steps) down to final_factor"
        return report(exercise, False, f"step {where} of {total} (warm-up {warmup}, final_factor {final}): got "
                                       f"{got[where]:.4f}, expected {expected[where]:.4f}. Hint: {hint}.")
    return report(exercise, True, "linear warm-up to 1, then half a cosine down to final_factor, on 5 schedules "
                                  "(final_factor = 0 is course_utils.train.warmup_cosine).")


@guarded
def check_digit_augmentation(fn, exercise="digit_augmentation"):
    """fn() -> a data.BatchAugment that suits handwritten digits: small rotations and shifts, never a flip."""
    from ..data import BatchAugment

    aug, err = call(fn)
    if err:
        return report(exercise, False, err)
    if not isinstance(aug, BatchAugment):
        return report(exercise, False, f"returned {type(aug).__name__}; expected a BatchAugment. Hint: "
                                       f"return BatchAugment(degrees=..., translate=..., scale=(..., ...)).")
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 6:8, 8:20] = 1.0                                    # a crude "7": a bar and a stroke down
    for r in range(8, 22):
        x[:, :, r, 19 - (r - 8) // 2] = 1.0
    out, err = call(aug, x, torch.Generator().manual_seed(0))
    if err:
        return report(exercise, False, err)
    lo, hi = aug.scale
    if aug.hflip:
        return report(exercise, False, "hflip=True mirrors digits: a mirrored 2, 3, 4, 5, 7 or 9 is not a digit any more. "
                                       "Hint: use hflip=False for digits (a flip suits photos and clothes, not writing).")
    if 0 < aug.degrees < 1:
        return report(exercise, False, f"degrees={aug.degrees:g}: that is a fraction of one degree (radians?). Hint: "
                                       f"BatchAugment takes degrees, e.g. 10 for a tilt of up to 10 degrees either way.")
    if aug.degrees < 0 or aug.translate < 0:
        return report(exercise, False, "degrees and translate are the largest change either way: give them as positive "
                                       "numbers.")
    if aug.degrees == 0 and aug.translate == 0 and lo == hi == 1:
        return report(exercise, False, "this augmentation changes nothing. Hint: add small rotations (degrees) and "
                                       "shifts (translate), as handwriting varies.")
    if aug.degrees > 20:
        return report(exercise, False, f"rotations of up to {aug.degrees} degrees are too large: a tilted 1 looks like "
                                       f"a 7, and a 6 turned far enough is a 9. Hint: keep degrees <= 20 (10 is usual).")
    if aug.translate >= 1:
        return report(exercise, False, f"translate={aug.translate:g}: it is a fraction of the width, not pixels. Hint: "
                                       f"0.1 shifts by up to 10% (about 3 pixels).")
    if aug.translate > 0.15:
        return report(exercise, False, f"shifts of up to {aug.translate:.0%} of the width are too large: MNIST digits "
                                       f"sit in a 20x20 box with a 4-pixel margin, so the strokes leave the frame. "
                                       f"Hint: keep translate <= 0.15 (0.1 is usual).")
    if lo < 0.8 or hi > 1.2 or lo > hi:
        return report(exercise, False, f"scale={aug.scale} zooms too far (or lo > hi). Hint: keep it within (0.8, 1.2), "
                                       f"e.g. (0.9, 1.1).")
    if not torch.is_tensor(out) or out.shape != x.shape:
        return report(exercise, False, "the augmentation did not return a batch of the input's shape.")
    return report(exercise, True, f"rotations up to {aug.degrees:g} degrees, shifts up to {aug.translate:.0%}, "
                                  f"zoom {lo:g}-{hi:g}, no flip: every augmented image is still the same digit.")




# ------------------------------------------------------------------------------------------- train_step
def _tiny_model():
    """A small CNN with a Linear head: the check trains two copies of it for a few steps."""
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 7 * 7, 16), nn.ReLU(), nn.Linear(16, 10))


def _reference_step(model, x, y, optimizer, scheduler, grad_clip, *, zero_grad=True, clip=True, clip_after=False,
                    schedule=True, schedule_first=False, step=True, loss="ce"):
    """train.train_step spelled out, with one piece changed (to name a student's mistake)."""
    logits = model(x)
    if loss == "ce":
        value = F.cross_entropy(logits, y)
    elif loss == "nll":
        value = F.nll_loss(logits, y)
    else:
        value = F.cross_entropy(logits.softmax(-1), y)
    if zero_grad:
        optimizer.zero_grad()
    if schedule and schedule_first:
        scheduler.step()
    value.backward()
    if clip and not clip_after:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if step:
        optimizer.step()
    if clip and clip_after:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if schedule and not schedule_first:
        scheduler.step()
    return value.detach()


_STEP_VARIANTS = {
    "the gradients are never cleared, so each step adds the new gradients to all the old ones: "
    "optimizer.zero_grad() before backward()": dict(zero_grad=False),
    "the gradients are not clipped: clip the gradient norm to grad_clip between backward() and the optimizer step "
    "(nn.utils.clip_grad_norm_)": dict(clip=False),
    "the gradients are clipped after the optimizer step, too late to change it: clip between backward() and "
    "optimizer.step()": dict(clip_after=True),
    "the learning-rate schedule never moves: scheduler.step() once per step, after optimizer.step()": dict(schedule=False),
    "scheduler.step() runs before optimizer.step(), so every step uses the next step's learning rate":
        dict(schedule_first=True),
    "the optimizer never steps: optimizer.step() applies the gradients": dict(step=False),
    "nll_loss on logits is not the cross-entropy (it expects log-probabilities): use F.cross_entropy(logits, y)":
        dict(loss="nll"),
    "the cross-entropy is given probabilities (a softmax first); it takes the raw logits": dict(loss="softmax"),
}


def _run_steps(step_fn, batches, grad_clip, lr, seed, **variant):
    """Train a fresh tiny model with step_fn over the batches: (losses, final parameters, final lr) or an error."""
    from ..train import TrainConfig, make_optimizer, warmup_cosine

    torch.manual_seed(seed)
    model = _tiny_model()
    optimizer = make_optimizer(model, TrainConfig(lr=lr, weight_decay=0.05, optimizer="sgd"))   # SGD: clipping shows
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(len(batches) + 2, 0.5))
    losses = []
    for x, y in batches:
        if variant:
            out, err = _reference_step(model, x, y, optimizer, scheduler, grad_clip, **variant), None
        else:
            out, err = step_fn(model, x, y, optimizer, scheduler, grad_clip)
        if err:
            return None, err
        losses.append(out)
    params = torch.cat([p.detach().flatten() for p in model.parameters()]
                       + [(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in model.parameters()])
    return (losses, params, scheduler.get_last_lr()[0]), None


def _loss_value(out):
    if isinstance(out, (tuple, list)) and out:
        out = out[0]
    if torch.is_tensor(out) and out.numel() == 1:
        return float(out.detach())
    if isinstance(out, (int, float)) and not isinstance(out, bool):
        return float(out)
    return None


@guarded
def check_train_step(fn, exercise="train_step"):
    """fn(model, x, y, optimizer, scheduler, grad_clip) -> loss: one training step, against train.train_step.

    Two copies of a small CNN start from the same seed; one is trained with course_utils.train.train_step, the
    other with fn, on the same 6 batches, with SGD, a warm-up schedule and a small grad_clip (so clipping
    matters; Adam would hide a wrong clip value, being blind to the scale of the gradients). Losses, parameters,
    the last gradients and the learning rate must agree.
    """
    from ..runtime import grad_scaler
    from ..train import train_step

    g = torch.Generator().manual_seed(12)
    batches = [(torch.randn(B, 1, 14, 14, generator=g), torch.randint(0, 10, (B,), generator=g)) for B in (8, 8, 5, 8, 1, 8)]
    lr = 0.1
    scaler = grad_scaler("cpu", enabled=False)

    def library(model, x, y, optimizer, scheduler, clip):
        return train_step(model, x, y, optimizer, scheduler, scaler, grad_clip=clip)[0], None

    def student(model, x, y, optimizer, scheduler, clip):
        before = (x.clone(), y.clone())
        out, err = call(fn, model, x, y, optimizer, scheduler, clip)
        if err:
            return None, err
        if not (torch.equal(x, before[0]) and torch.equal(y, before[1])):
            return None, "your step changed the batch in place. Hint: leave x and y as they are."
        value = _loss_value(out)
        if value is None:
            return None, f"returned {describe(out)}; expected the loss (a number or a one-element tensor)"
        return value, None

    import warnings

    for grad_clip in (0.5, 1e4):   # clipping active at every step, then never
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # PyTorch's warning when scheduler.step() comes first
            result = _compare_steps(student, library, batches, grad_clip, lr)
        if result is not None:
            return report(exercise, False, result)
    return report(exercise, True, f"the same losses, parameters and learning rate as course_utils.train.train_step "
                                  f"over {len(batches)} steps (batches of 8, 5 and 1, with and without clipping, a "
                                  f"warm-up active).")


def _compare_steps(student, library, batches, grad_clip, lr):
    """None when the student's steps give the library's trajectory, else the FAIL message."""
    (ref_losses, ref_params, ref_lr), _ = _run_steps(library, batches, grad_clip, lr, seed=3)
    ref_losses = [float(v) for v in ref_losses]
    got, err = _run_steps(student, batches, grad_clip, lr, seed=3)
    if err:
        return err + "."
    losses, params, last_lr = got
    ok_losses = all(abs(a - b) <= 1e-4 * max(1, abs(b)) for a, b in zip(losses, ref_losses))
    ok_params = torch.allclose(params, ref_params, atol=1e-5, rtol=1e-4)
    if ok_losses and ok_params and abs(last_lr - ref_lr) < 1e-9:
        return None
    first = next((i for i, (a, b) in enumerate(zip(losses, ref_losses)) if abs(a - b) > 1e-4 * max(1, abs(b))), None)
    for hint, variant in _STEP_VARIANTS.items():  # noqa: B007 (the hint of the matching variant is kept)
        (v_losses, v_params, v_lr), _ = _run_steps(None, batches, grad_clip, lr, seed=3, **variant)
        if (all(abs(a - float(b)) <= 1e-4 * max(1, abs(float(b))) for a, b in zip(losses, v_losses))
                and torch.allclose(params, v_params, atol=1e-5, rtol=1e-4) and abs(last_lr - v_lr) < 1e-9):
            break
    else:
        hint = ("forward, loss = F.cross_entropy(logits, y), zero_grad, backward once, clip the gradient norm to "
                "grad_clip, optimizer.step(), scheduler.step(), in that order")
    where = (f"the loss of step {first + 1} is {losses[first]:.5f}, the library's {ref_losses[first]:.5f}" if first is not None
             else "the losses agree but the parameters after the last step do not" if not ok_params
             else f"the learning rate ends at {last_lr:.3g}, the library's at {ref_lr:.3g}")
    return f"with grad_clip={grad_clip:g}: {where}. Hint: {hint}."
