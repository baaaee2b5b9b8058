"""Checks of notebook 05_training: each passes the reference and fails every classic mistake with its hint.

The warm-up + cosine schedule (now with a final_factor floor) and the training step are tested on their wrong
solutions in tests/notebooks/wrong_solutions/warmup_cosine.py and train_step.py.
"""
import pytest

from course_utils import checks
from course_utils.data import BatchAugment, default_augmentation


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
