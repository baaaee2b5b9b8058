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


def test_sweep_reuses_a_run_of_the_same_recipe_and_only_that(tmp_path):
    from dataclasses import replace

    from course_utils.experiments import Recipe, run_sweep

    pool, val, test = fake(60, 0), fake(20, 1), fake(20, 2)
    base = TrainConfig(batch_size=16)
    data = dict(pool=pool, val=val, test=test)
    other = tmp_path / "mnist_sweep.jsonl"                       # notebook 06's sweep: the CNN and ViT, augmented
    made = run_sweep([(Recipe("cnn", replace(base, augment=True), Budget(2), variant="augment"), 20, 0),
                      (Recipe("vit", replace(base, augment=True), Budget(2), variant="augment"), 20, 0)],
                     results_path=other, weights_dir=tmp_path / "weights", device="cpu", log=None, **data)
    kw = dict(base=base, results_path=tmp_path / "gap.jsonl", weights_dir=tmp_path / "teachers", device="cpu",
              log=None, reuse_from=other, reuse_weights_dir=tmp_path / "weights", **data)
    records = gap.run_gap_sweep(["vit_augment", "vit_plain", "vit_distill"], [20], [0],
                                budgets={"vit": Budget(2), "cnn": Budget(2)}, **kw)
    teacher, augment, plain, distill = records
    assert [r["variant"] for r in records] == ["cnn_augment", "vit_augment", "vit_plain", "vit_distill"]
    for new, old in [(teacher, made[0]), (augment, made[1])]:                  # copied, not trained again
        assert new["finished_at"] == old["finished_at"] and new["test_acc"] == old["test_acc"]
        assert new["reused_from"] == "mnist_sweep.jsonl, variant augment"
    assert "reused_from" not in plain and "reused_from" not in distill        # no such run there: trained
    assert (tmp_path / "teachers" / "cnn_cnn_augment_n20_seed0.pt").read_bytes() == \
        (tmp_path / "weights" / "cnn_augment_n20_seed0.pt").read_bytes()
    # another budget is another recipe: nothing is taken from the other file
    longer = gap.run_gap_sweep(["vit_augment"], [20], [0], budgets={"vit": Budget(3), "cnn": Budget(3)},
                               **{**kw, "results_path": tmp_path / "gap_longer.jsonl"})
    assert "reused_from" not in longer[0] and (augment["steps"], longer[0]["steps"]) == (2, 4)
    # several files: a run is taken from whichever holds it (a budget check's doubled run is the longer budget's run);
    # a file that is not there is skipped
    check = tmp_path / "gap_longer.jsonl"
    both = gap.run_gap_sweep(["vit_augment"], [20], [0], budgets={"vit": Budget(3), "cnn": Budget(3)},
                             **{**kw, "results_path": tmp_path / "gap_3.jsonl",
                                "reuse_from": [tmp_path / "missing.jsonl", other, check]})
    assert [r["reused_from"] for r in both] == ["gap_longer.jsonl, variant vit_augment"]
    assert both[0]["finished_at"] == longer[0]["finished_at"]


def test_sweep_reuses_no_run_made_on_another_data_set(tmp_path):
    from dataclasses import replace

    from course_utils.experiments import Recipe, run_sweep

    mnist = fake(60, 0)
    fashion = [ImageData(d.images, d.labels, "fashion_mnist", d.classes, d.mean, d.std)
               for d in (fake(60, 0), fake(20, 1), fake(20, 2))]       # the same pixels, another data set's name
    other = tmp_path / "mnist_sweep.jsonl"
    run_sweep([(Recipe("cnn", replace(TrainConfig(batch_size=16), augment=True), Budget(2), variant="augment"), 20, 0)],
              pool=mnist, val=fake(20, 1), test=fake(20, 2), results_path=other, device="cpu", log=None)
    [record] = gap.run_gap_sweep(["cnn_augment"], [20], [0], pool=fashion[0], val=fashion[1], test=fashion[2],
                                 base=TrainConfig(batch_size=16), budgets={"cnn": Budget(2)},
                                 results_path=tmp_path / "gap.jsonl", weights_dir=tmp_path / "w", device="cpu",
                                 log=None, reuse_from=[other])
    assert "reused_from" not in record and record["dataset"] == "fashion_mnist"
