"""Checks of notebook 05_training: each passes the reference and fails every classic mistake with its hint."""
import math

import pytest

from course_utils import checks
from course_utils.data import BatchAugment, default_augmentation
from course_utils.train import warmup_cosine


# --- warm-up + cosine learning-rate factor ------------------------------------------------------------
def reference(step, total_steps, warmup_steps):
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * progress))


def schedule(warmup=lambda s, w: (s + 1) / w, cosine=lambda p: 0.5 * (1 + math.cos(math.pi * p)),
             progress=lambda s, t, w: (s - w) / (t - w)):
    def factor(step, total_steps, warmup_steps):
        if step < warmup_steps:
            return warmup(step, warmup_steps)
        return cosine(progress(step, total_steps, warmup_steps))
    return factor


def no_warmup(step, total_steps, warmup_steps):
    return 0.5 * (1 + math.cos(math.pi * step / total_steps))


WRONG = [
    (schedule(warmup=lambda s, w: s / w), "(step + 1) / warmup_steps"),
    (no_warmup, "there is no warm-up"),
    (schedule(progress=lambda s, t, w: s / t), "jumps down when the warm-up ends"),
    (schedule(cosine=lambda p: math.cos(math.pi * p)), "goes negative"),
    (schedule(cosine=lambda p: 0.5 * (1 + math.cos(2 * math.pi * p))), "rises again"),
    (schedule(progress=lambda s, t, w: (s - w) / t), "does not reach 0"),
    (schedule(cosine=lambda p: 1 - p), "linear decay"),
    (schedule(warmup=lambda s, w: 2 * (s + 1) / w), "goes above 1"),
    (schedule(cosine=lambda p: 0.5 * (1 + math.cos(math.pi * p / 2))), "should end near 0"),
    (lambda s, t, w: "fast", "expected a number"),
    (lambda s, t, w: 1 / (s - 3), "raised ZeroDivisionError"),
]


@pytest.mark.parametrize("total,fraction", [(100, 0.1), (37, 5 / 37), (1000, 0.001), (250, 0.2)])
def test_check_reference_equals_the_training_loops_schedule(total, fraction):
    """The check's formula is train.warmup_cosine written as a function of (step, total, warmup)."""
    library = warmup_cosine(total, fraction)
    warmup = max(1, int(total * fraction))
    assert all(abs(library(s) - checks._lr_factor(s, total, warmup)) < 1e-12 for s in range(total))


def test_check_warmup_cosine_passes_the_reference(capsys):
    assert checks.check_warmup_cosine(reference).passed
    assert checks.check_warmup_cosine(lambda s, t, w: warmup_cosine(t, w / t)(s)).passed
    assert capsys.readouterr().out.startswith("✅ PASS [warmup_cosine]")


@pytest.mark.parametrize("wrong,hint", WRONG)
def test_check_warmup_cosine_fails_each_mistake_with_its_hint(capsys, wrong, hint):
    result = checks.check_warmup_cosine(wrong)
    assert not result.passed and hint in result.message, result.message
    assert capsys.readouterr().out.startswith("❌ FAIL [warmup_cosine]")


def test_check_warmup_cosine_stops_at_an_unfinished_exercise(capsys):
    def unfinished(step, total_steps, warmup_steps):
        raise NotImplementedError
    with pytest.raises(NotImplementedError):
        checks.check_warmup_cosine(unfinished)
    assert "not implemented yet" in capsys.readouterr().out


# --- augmentation for digits -------------------------------------------------------------------------
def test_check_digit_augmentation_passes_the_courses_choice(capsys):
    assert checks.check_digit_augmentation(lambda: default_augmentation("mnist")).passed
    assert checks.check_digit_augmentation(lambda: BatchAugment(degrees=15, translate=0.1)).passed
    assert capsys.readouterr().out.count("✅ PASS [digit_augmentation]") == 2


@pytest.mark.parametrize("wrong,hint", [
    (lambda: BatchAugment(degrees=10, translate=0.1, hflip=True), "hflip=True mirrors digits"),
    (lambda: default_augmentation("fashion_mnist"), "hflip=True mirrors digits"),
    (lambda: BatchAugment(), "changes nothing"),
    (lambda: BatchAugment(degrees=180), "a 6 turned far enough is a 9"),
    (lambda: BatchAugment(degrees=10, translate=0.3), "strokes leave the frame"),
    (lambda: BatchAugment(degrees=10, scale=(0.5, 1.5)), "zooms too far"),
    (lambda: "rotate a bit", "expected a BatchAugment"),
    (lambda: BatchAugment(degress=10), "raised TypeError"),
])
def test_check_digit_augmentation_fails_each_mistake_with_its_hint(capsys, wrong, hint):
    result = checks.check_digit_augmentation(wrong)
    assert not result.passed and hint in result.message, result.message
    assert capsys.readouterr().out.startswith("❌ FAIL [digit_augmentation]")
