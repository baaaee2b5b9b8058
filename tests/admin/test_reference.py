"""course_admin.reference end to end on tiny budgets: the recipe stage, then the budget check reads it back."""
import re

import pytest

from course_admin import reference
from course_utils.experiments import Budget, load_results


@pytest.fixture
def tiny_budgets(monkeypatch, mnist_train):        # mnist_train: skips (or fails under CI) without MNIST
    monkeypatch.setattr(reference, "BUDGETS", {m: Budget(min_steps=3, min_epochs=1) for m in reference.MODELS})


def test_recipes_then_budget_check(tiny_budgets, tmp_path, capsys):
    sweep, check = tmp_path / "sweep.jsonl", tmp_path / "check.jsonl"
    reference.main(["mnist-sweep", "--models", "lenet", "--out", str(sweep), "--weights", str(tmp_path / "w"),
                    "--stop-after", "recipes", "--device", "cpu"])
    stage1 = load_results(sweep)
    assert sorted((r["variant"], r["train_size"]) for r in stage1) == [
        ("augment", 600), ("augment", 6000), ("plain", 600), ("plain", 6000)]   # stopped before the grid
    assert "recipes chosen on validation" in capsys.readouterr().out

    reference.main(["budget-check", "--models", "lenet", "vit", "--sweep", str(sweep), "--out", str(check),
                    "--device", "cpu"])
    out = capsys.readouterr().out
    assert "vit: no recipe chosen yet" in out                           # said, not a crash
    doubled = load_results(check)
    chosen = max(("augment", "plain"), key=lambda v: sum(r["val_acc"] for r in stage1 if r["variant"] == v))
    assert {r["variant"] for r in doubled} == {chosen}
    assert [r["budget"] for r in doubled] == [{"min_steps": 6, "min_epochs": 2}] * 2   # twice the recipe's budget
    once = {r["train_size"]: r["steps"] for r in stage1 if r["variant"] == chosen}
    assert all(r["steps"] >= 2 * once[r["train_size"]] - 1 for r in doubled)
    table = re.findall(r"lenet \((\w+)\) +([\d,]+) images: val [\d.]+ with [\d,]+ steps, [\d.]+ with [\d,]+ \([+-]", out)
    assert table == [(chosen, "600"), (chosen, "6,000")]


def test_gap_sweep_dry_run_lists_the_plan(capsys):
    reference.main(["gap-sweep", "--dry-run", "--datasets", "mnist", "--sizes", "600", "--seeds", "0", "1",
                    "--variants", "cnn_augment", "vit_plain"])
    out = capsys.readouterr().out
    assert out.strip().endswith("4 runs")
