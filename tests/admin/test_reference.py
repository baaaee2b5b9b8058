"""course_admin.reference end to end on tiny budgets: the recipe stage, then the budget check reads it back."""
import json
import os
import re
from pathlib import Path

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


def test_budget_check_on_fashion_mnist_doubles_the_recipe_chosen_there(tiny_budgets, tmp_path, capsys):
    try:
        from course_utils.data import load_dataset
        load_dataset("fashion_mnist", "test", download=False)
    except (FileNotFoundError, RuntimeError):
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    gap, check = tmp_path / "gap.jsonl", tmp_path / "check.jsonl"
    # notebook 08's 1x runs on Fashion-MNIST: without augmentation validates better here, so it is the recipe
    once = [{"model": "cnn", "variant": v, "train_size": 600, "seed": 0, "val_acc": acc, "test_acc": acc, "steps": 3}
            for v, acc in (("cnn_augment", 0.80), ("cnn_plain", 0.85))]
    fashion = reference.gap_results_path(gap, "fashion_mnist")
    fashion.write_text("".join(json.dumps(r) + "\n" for r in once))
    reference.main(["budget-check", "--dataset", "fashion_mnist", "--models", "cnn", "vit", "--sizes", "600",
                    "--sweep", str(fashion), "--out", str(check), "--device", "cpu"])
    out = capsys.readouterr().out
    assert "vit: no recipe chosen yet" in out and "gap-sweep" in out     # the ViT has no runs there: said, skipped
    [doubled] = load_results(check)
    assert (doubled["variant"], doubled["dataset"]) == ("cnn_plain", "fashion_mnist")
    # SmallCNN's budget on Fashion-MNIST is MNIST's times its factor there (DATASET_BUDGET_FACTORS); the check doubles that
    factor = reference.DATASET_BUDGET_FACTORS["fashion_mnist"]["cnn"]
    assert factor > 1
    assert doubled["budget"] == {"min_steps": 6 * factor, "min_epochs": 2 * factor} and doubled["steps"] >= 6 * factor
    assert re.search(r"cnn \(cnn_plain\) +600 images: val 0\.8500 with 3 steps, [\d.]+ with \d+ \(", out)


def test_gap_budgets_multiply_only_the_models_named_for_a_data_set(monkeypatch):
    monkeypatch.setattr(reference, "BUDGETS", {"vit": Budget(min_steps=50, min_epochs=3),
                                               "cnn": Budget(min_steps=10, min_epochs=2)})
    monkeypatch.setattr(reference, "DATASET_BUDGET_FACTORS", {"fashion_mnist": {"cnn": 3}})
    assert reference.gap_budgets("mnist") == reference.BUDGETS
    fashion = reference.gap_budgets("fashion_mnist")
    assert fashion == {"vit": Budget(min_steps=50, min_epochs=3), "cnn": Budget(min_steps=30, min_epochs=6)}
    # and gap-sweep trains each data set with its own budgets
    from course_utils import gap
    seen = {}
    monkeypatch.setattr(reference, "dataset_sets", lambda dataset: (None, None, None))
    monkeypatch.setattr(gap, "run_gap_sweep", lambda *a, results_path, budgets, **kw: seen.update({
        Path(results_path).name: budgets}))
    reference.main(["gap-sweep", "--datasets", "mnist", "fashion_mnist", "--variants", "cnn_plain",
                    "--out", "gap.jsonl"])
    assert seen == {"gap.jsonl": reference.BUDGETS, "gap_fashion_mnist.jsonl": fashion}


def test_gap_sweep_dry_run_lists_the_plan(capsys):
    reference.main(["gap-sweep", "--dry-run", "--datasets", "mnist", "--sizes", "600", "--seeds", "0", "1",
                    "--variants", "cnn_augment", "vit_plain"])
    out = capsys.readouterr().out
    assert out.strip().endswith("4 runs")


def test_readme_reference_tables_match_the_results_files():
    root = Path(reference.__file__).resolve().parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert reference.README_START in readme and reference.README_END in readme
    shown = readme.split(reference.README_START, 1)[1].split(reference.README_END, 1)[0].strip()
    expected = reference.reference_tables(root / "results/mnist_sweep.jsonl", root / "results/gap_sweep.jsonl")
    # paths in the tables are printed as given: compare with the repository-relative spelling
    expected = expected.replace(f"{root.as_posix()}/", "")
    assert shown == expected, "README's reference tables are stale: run `python -m course_admin.reference table --readme`"


def test_table_numbers_are_computed_from_the_records(tmp_path, capsys):
    lines = []
    for model, accs in (("vit", [0.97, 0.98, 0.99]), ("cnn", [0.99])):
        for seed, acc in enumerate(accs):
            for variant, delta in (("augment", 0.0), ("plain", -0.01)):
                lines.append({"model": model, "variant": variant, "train_size": 600, "seed": seed,
                              "test_acc": acc + delta, "val_acc": acc + delta, "train_time_s": 1800.0})
    sweep = tmp_path / "sweep.jsonl"
    sweep.write_text("".join(json.dumps(r) + "\n" for r in lines))
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{reference.README_START}\nold\n{reference.README_END}\nafter\n")
    gap = tmp_path / "gap.jsonl"
    gap.write_text("".join(json.dumps({"model": "vit", "variant": "vit_conv_stem", "train_size": 600, "seed": sd,
                                       "test_acc": acc, "val_acc": acc, "train_time_s": 3600.0, **extra}) + "\n"
                           for sd, acc, extra in ((0, 0.95, {}), (1, 0.97, {"reused_from": "x"}),
                                                  (2, 0.96, {"device": "cuda (NVIDIA H200)", "precision": "float32",
                                                             "parallel_jobs": 6}))))
    fashion = reference.gap_results_path(gap, "fashion_mnist")
    fashion.write_text(json.dumps({"model": "cnn", "variant": "cnn_plain", "train_size": 600, "seed": 0,
                                   "test_acc": 0.8, "val_acc": 0.8, "train_time_s": 600.0}) + "\n")
    reference.main(["table", "--sweep", str(sweep), "--gap", str(gap), "--readme", str(readme)])
    text = readme.read_text()
    assert "| `vit_conv_stem` | 96.00 ± 1.00 | – |" in text
    assert "**MNIST, notebook 08**" in text
    # reused runs cost nothing here; GPU runs are counted apart (their times were shared with other runs)
    assert ("3 runs (1 taken from `x`; 1 trained on NVIDIA H200 in plain fp32, up to 6 at a time), "
            "1.0 hours of training on 2 CPU cores") in text
    assert "**Fashion-MNIST, notebook 08**" in text
    assert "as above; 1 run, 10 minutes of training on 2 CPU cores." in text               # singular, minutes under an hour
    assert "old" not in text and text.endswith(f"{reference.README_END}\nafter\n")
    assert "| ViT | 98.00 ± 1.00 |" in text                  # 3 seeds: mean ± sample std, no n
    assert "| SmallCNN | 99.00 (n=1) |" in text              # fewer seeds say so
    assert "4 of 30 grid runs; 8 runs in the file, 4.0 hours" in text   # 2 models x 5 sizes x 3 seeds; plain runs counted


def test_table_refuses_a_readme_without_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    with pytest.raises(SystemExit, match="reference markers"):
        reference.main(["table", "--readme", str(readme)])


def test_gap_reference_variants_per_data_set(tmp_path, capsys):
    out = tmp_path / "gap.jsonl"
    plan = ["gap-sweep", "--dry-run", "--out", str(out), "--sizes", "600", "--seeds", "0"]
    reference.main([*plan, "--datasets", "mnist"])
    mnist = capsys.readouterr().out
    assert "vit_conv_stem" in mnist and "vit_stem_distill" not in mnist   # the combination only when asked for
    reference.main([*plan, "--datasets", "fashion_mnist"])
    second = capsys.readouterr().out
    assert "no best ViT variant yet" in second and second.strip().endswith("4 runs")

    # the best variant is the one with the highest validation accuracy at 600 images over the seeds all ViTs have
    records = [("vit_augment", 600, 0, 0.95), ("vit_patch4", 600, 0, 0.97), ("vit_conv_stem", 600, 0, 0.96),
               ("vit_augment", 600, 1, 0.95), ("vit_conv_stem", 600, 1, 0.99),     # seed 1: not every variant has it
               ("vit_conv_stem", 6000, 0, 0.999), ("cnn_augment", 600, 0, 0.999)]
    out.write_text("".join(json.dumps({"model": v.split("_")[0], "variant": v, "train_size": n, "seed": sd,
                                       "val_acc": acc, "test_acc": acc, "train_time_s": 1.0}) + "\n"
                           for v, n, sd, acc in records))
    assert reference.best_gap_variant(load_results(out)) == "vit_patch4"
    reference.main([*plan, "--datasets", "fashion_mnist"])
    second = capsys.readouterr().out.splitlines()
    assert second[-2].endswith("vit_patch4") and second[-1] == "5 runs"


def test_notebook_08_gpu_profile_trains_with_the_reference_budgets():
    """The gpu profile of notebook 08 is the reference protocol: its budgets per data set are course_admin's."""
    from course_utils import gap
    from course_utils.train import TrainConfig

    class GPU:
        def choose(self, **options):
            return options["gpu"]

        def __format__(self, spec):
            return "gpu"

    root = Path(reference.__file__).resolve().parents[1]
    cells = json.loads((root / "notebooks/08_closing_the_gap.ipynb").read_text(encoding="utf-8"))["cells"]
    [source] = ["".join(c["source"]) for c in cells if "SECOND_BUDGETS = " in "".join(c["source"])]
    names = {"profile": GPU(), "gap": gap, "Budget": Budget, "TrainConfig": TrainConfig, "Path": Path}
    exec(source, names)
    assert names["BUDGETS"] == {m: reference.BUDGETS[m] for m in ("vit", "cnn")}
    assert names["SECOND_BUDGETS"] == {m: reference.gap_budgets(names["SECOND"])[m] for m in ("vit", "cnn")}
    assert names["BASE"] == reference.BASE


def test_gap_sweep_jobs_trains_in_parallel_what_one_process_trains(mnist_train, tmp_path, capsys):
    # --jobs: each run in a process of its own, merged into the results file by the parent as it finishes; the
    # distilled ViT waits for its teacher. The records equal those of the sequential sweep (same CPU, same seeds) up to
    # float rounding: each process uses fewer threads, which sums in another order.
    common = ["gap-sweep", "--datasets", "mnist", "--sizes", "20", "--seeds", "0", "--budget-steps", "2",
              "--variants", "vit_distill", "vit_plain", "--device", "cpu"]
    one, many = tmp_path / "one" / "gap.jsonl", tmp_path / "many" / "gap.jsonl"
    assert reference.main([*common, "--out", str(one), "--weights", str(tmp_path / "w1")]) == 0
    assert reference.main([*common, "--out", str(many), "--weights", str(tmp_path / "w2"), "--jobs", "2",
                           "--fp32"]) == 0
    out = capsys.readouterr().out
    assert "3 runs to train, 2 at a time" in out and "3 runs trained, 0 failed, 0 not started" in out
    order = [r["variant"] for r in load_results(many)]
    assert order.index("cnn_augment") < order.index("vit_distill")           # the teacher first
    key = lambda r: r["variant"]
    same = ("variant", "train_size", "seed", "steps", "train_config", "model_kwargs")
    close = ("train_loss", "val_loss", "test_loss")
    a, b = sorted(load_results(one), key=key), sorted(load_results(many), key=key)
    assert [{k: r[k] for k in same} for r in a] == [{k: r[k] for k in same} for r in b]
    assert [r[k] for r in b for k in close] == pytest.approx([r[k] for r in a for k in close], rel=1e-4)
    assert {r["precision"] for r in load_results(many)} == {"float32"}
    assert "COURSE_AMP" not in os.environ          # --fp32 went to the processes; this one's settings are untouched
    assert {r["parallel_jobs"] for r in load_results(many)} == {2}         # its time was shared with another run
    assert (tmp_path / "w2" / "mnist" / "cnn_cnn_augment_n20_seed0.pt").exists()
    # nothing left to do: a rerun trains nothing
    assert reference.main([*common, "--out", str(many), "--weights", str(tmp_path / "w2"), "--jobs", "2"]) == 0
    assert "0 runs to train" in capsys.readouterr().out


def test_gap_sweep_jobs_reports_a_failed_run_and_goes_on(mnist_train, tmp_path, capsys):
    # a run whose process fails (here: a size larger than the pool) is reported with its last lines; the exit code
    # says so, and the other runs are trained and kept
    out = tmp_path / "gap.jsonl"
    rc = reference.main(["gap-sweep", "--datasets", "mnist", "--sizes", "20", "10000000", "--seeds", "0",
                         "--budget-steps", "2", "--variants", "cnn_plain", "--device", "cpu", "--out", str(out),
                         "--weights", str(tmp_path / "w"), "--jobs", "2"])
    printed = capsys.readouterr().out
    assert rc == 1
    assert "FAILED mnist cnn_plain on 10,000,000 images, seed 0" in printed and "larger than the pool" in printed
    assert [(r["variant"], r["train_size"]) for r in load_results(out)] == [("cnn_plain", 20)]
