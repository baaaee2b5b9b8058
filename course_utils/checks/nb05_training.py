"""Checks of notebook 05_training."""
import math

import torch

from .core import report, _call, _reports_unfinished

def _lr_factor(step, total_steps, warmup_steps):
    """The course's schedule (train.warmup_cosine) as a plain function: linear warm-up, then cosine to 0."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _lr_variants(step, total, warmup):
    """Classic wrong schedules, each with its hint (checked in this order)."""
    progress = (step - warmup) / max(1, total - warmup)
    ramp = (step + 1) / warmup
    return {
        "step 0 gets a factor of 0, so the first update does nothing: ramp with (step + 1) / warmup_steps":
            step / warmup if step < warmup else _lr_factor(step, total, warmup),
        "there is no warm-up: the first step already uses the full learning rate. Ramp up linearly, "
        "(step + 1) / warmup_steps, while step < warmup_steps":
            0.5 * (1 + math.cos(math.pi * step / total)),
        "the cosine is counted from step 0, so the factor jumps down when the warm-up ends. Count it from the end "
        "of the warm-up: progress = (step - warmup_steps) / (total_steps - warmup_steps)":
            ramp if step < warmup else 0.5 * (1 + math.cos(math.pi * step / total)),
        "the factor goes negative: cos(pi * progress) runs from 1 to -1; rescale it to 1 -> 0 with 0.5 * (1 + cos(...))":
            ramp if step < warmup else math.cos(math.pi * progress),
        "the cosine rises again at the end: use half a period, cos(pi * progress), not cos(2 * pi * progress)":
            ramp if step < warmup else 0.5 * (1 + math.cos(2 * math.pi * progress)),
        "the cosine does not reach 0 at the last step: divide by the steps left after the warm-up, "
        "progress = (step - warmup_steps) / (total_steps - warmup_steps)":
            ramp if step < warmup else 0.5 * (1 + math.cos(math.pi * (step - warmup) / total)),
        "that is a linear decay after the warm-up; the course uses a cosine: 0.5 * (1 + cos(pi * progress))":
            ramp if step < warmup else 1 - progress,
    }


@_reports_unfinished
def check_warmup_cosine(fn, exercise="warmup_cosine"):
    """fn(step, total_steps, warmup_steps) -> lr factor: (step + 1) / warmup, then 0.5 * (1 + cos(pi * progress))."""
    for total, warmup in [(100, 10), (37, 5), (1000, 1)]:
        got = []
        for step in range(total):
            out, err = _call(fn, step, total, warmup)
            if err:
                return report(exercise, False, f"{err} (step={step}, total_steps={total}, warmup_steps={warmup}).")
            try:
                got.append(float(out))
            except (TypeError, ValueError):
                return report(exercise, False, f"returned {type(out).__name__} at step {step}; expected a number "
                                               f"(the factor that multiplies the peak learning rate).")
        expected = [_lr_factor(s, total, warmup) for s in range(total)]
        if all(abs(a - b) < 1e-6 for a, b in zip(got, expected)):
            continue
        where = next(s for s in range(total) if abs(got[s] - expected[s]) >= 1e-6)
        curves = {}
        for s in range(total):
            for h, value in _lr_variants(s, total, warmup).items():
                curves.setdefault(h, []).append(value)
        hint = next((h for h, curve in curves.items() if all(abs(a - b) < 1e-6 for a, b in zip(got, curve))), None)
        if hint is None:
            if max(got) > 1 + 1e-6:
                hint = "the factor goes above 1: it multiplies the peak learning rate, so it peaks at exactly 1"
            elif got[-1] > 0.05:
                hint = f"the last step's factor is {got[-1]:.3f}: the cosine should end near 0"
            else:
                hint = ("warm-up: (step + 1) / warmup_steps while step < warmup_steps; then with "
                        "progress = (step - warmup_steps) / (total_steps - warmup_steps): 0.5 * (1 + cos(pi * progress))")
        return report(exercise, False, f"step {where} of {total} (warm-up {warmup}): got {got[where]:.4f}, "
                                       f"expected {expected[where]:.4f}. Hint: {hint}.")
    return report(exercise, True, "linear warm-up to 1, then a half cosine down to 0: the same factors as "
                                  "course_utils.train.warmup_cosine.")


@_reports_unfinished
def check_digit_augmentation(fn, exercise="digit_augmentation"):
    """fn() -> a data.BatchAugment that suits handwritten digits: small rotations and shifts, never a flip."""
    from ..data import BatchAugment

    aug, err = _call(fn)
    if err:
        return report(exercise, False, err)
    if not isinstance(aug, BatchAugment):
        return report(exercise, False, f"returned {type(aug).__name__}; expected a BatchAugment. Hint: "
                                       f"return BatchAugment(degrees=..., translate=..., scale=(..., ...)).")
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 6:8, 8:20] = 1.0                                    # a crude "7": a bar and a stroke down
    for r in range(8, 22):
        x[:, :, r, 19 - (r - 8) // 2] = 1.0
    out, err = _call(aug, x, torch.Generator().manual_seed(0))
    if err:
        return report(exercise, False, err)
    lo, hi = aug.scale
    if aug.hflip:
        return report(exercise, False, "hflip=True mirrors digits: a mirrored 2, 3, 4, 5, 7 or 9 is not a digit any more. "
                                       "Hint: use hflip=False for digits (a flip suits photos and clothes, not writing).")
    if aug.degrees == 0 and aug.translate == 0 and lo == hi == 1:
        return report(exercise, False, "this augmentation changes nothing. Hint: add small rotations (degrees) and "
                                       "shifts (translate), as handwriting varies.")
    if aug.degrees > 20:
        return report(exercise, False, f"rotations of up to {aug.degrees} degrees are too large: a tilted 1 looks like "
                                       f"a 7, and a 6 turned far enough is a 9. Hint: keep degrees <= 20 (10 is usual).")
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


