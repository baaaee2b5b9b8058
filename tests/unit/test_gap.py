"""Notebook 08's variants and their resumable sweep (on tiny random data)."""
import pytest
import torch

from course_utils import gap
from course_utils.data import ImageData
from course_utils.experiments import Budget, load_results
from course_utils.models import build_model
from course_utils.train import TrainConfig


def fake(n, seed):
    g = torch.Generator().manual_seed(seed)
    images = (torch.rand(n, 1, 28, 28, generator=g) * 255).to(torch.uint8)
    labels = torch.arange(n) % 10
    return ImageData(images, labels, "mnist", tuple("0123456789"), (0.13,), (0.31,))


def test_every_variant_builds_from_the_library():
    for name, (model, augment, kwargs, _) in gap.VARIANTS.items():
        recipe = gap.variant_recipe(name, TrainConfig(), {"vit": Budget(10), "cnn": Budget(5)})
        assert recipe.variant == name and recipe.train.augment == augment
        assert (recipe.model, recipe.model_kwargs) == (model, kwargs)
        net = build_model(recipe.model, **recipe.model_kwargs)
        assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="Unknown variant"):
        gap.variant_recipe("vit_magic", TrainConfig(), {})


def test_sweep_trains_the_teacher_first_resumes_and_retrains_a_lost_teacher(tmp_path):
    pool, val, test = fake(60, 0), fake(20, 1), fake(20, 2)
    kw = dict(pool=pool, val=val, test=test, results_path=tmp_path / "gap.jsonl", base=TrainConfig(batch_size=16),
              budgets={"vit": Budget(2), "cnn": Budget(2)}, weights_dir=tmp_path / "w", device="cpu", log=None)
    records = gap.run_gap_sweep(["vit_distill", "vit_augment"], [20], [0], **kw)
    assert [r["variant"] for r in records] == ["cnn_augment", "vit_distill", "vit_augment"]
    assert records[1]["teacher"]["variant"] == "cnn_augment" and records[1]["teacher"]["hard"]
    assert (tmp_path / "w" / "cnn_cnn_augment_n20_seed0.pt").exists()
    again = gap.run_gap_sweep(["vit_distill", "vit_augment"], [20], [0], **kw)
    assert [r["finished_at"] for r in again] == [r["finished_at"] for r in records]       # nothing retrained
    (tmp_path / "w" / "cnn_cnn_augment_n20_seed0.pt").unlink()
    gap.run_gap_sweep(["vit_distill"], [20], [0], **kw)                                      # teacher weights rebuilt
    assert (tmp_path / "w" / "cnn_cnn_augment_n20_seed0.pt").exists()
    assert len(load_results(tmp_path / "gap.jsonl")) == 3
