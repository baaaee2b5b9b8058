"""The resumable data-size sweep (course_utils.experiments), on the real MNIST with tiny sizes and models."""
import json
import math
import statistics
import warnings
from dataclasses import replace

import pytest
import torch

from course_utils import experiments
from course_utils.data import balanced_subset
from course_utils.experiments import (
    Budget,
    Recipe,
    choose_variant,
    compare,
    crossovers,
    epochs_for_budget,
    error_slopes,
    grid,
    load_results,
    run_sweep,
    summarize,
    summary_markdown,
)
from course_utils.models import build_model
from course_utils.train import TrainConfig, fit, steps_per_epoch

TIMING = ("train_time_s", "images_per_s", "finished_at")
TINY_VIT = {"depth": 1, "embed_dim": 16, "num_heads": 2}
BASE = TrainConfig(batch_size=16, augment=True)


@pytest.fixture(scope="module")
def sets(mnist_train, mnist_test):
    pool = balanced_subset(mnist_train, 1000, seed=0)
    return pool, balanced_subset(mnist_test, 200, seed=0), balanced_subset(mnist_test, 100, seed=1)


def recipes(steps=4, epochs=1):
    return [Recipe("lenet", BASE, Budget(steps, epochs)), Recipe("vit", BASE, Budget(steps, epochs), model_kwargs=TINY_VIT)]


def sweep(sets, path, *, rs=None, sizes=(20, 50), seeds=(0,), **kw):
    pool, test, val = sets
    args = dict(pool=pool, test=test, val=val, results_path=path, device="cpu", profile="test", log=None)
    return run_sweep(grid(rs or recipes(), sizes, seeds), **{**args, **kw})


def without_timing(records):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


class CountFits:
    """Wraps train.fit as the sweep sees it; counts calls and can fail on the n-th (a disconnect)."""

    def __init__(self, fail_at=None):
        self.calls, self.fail_at = 0, fail_at

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt("disconnected")
        return fit(*args, **kwargs)


# ------------------------------------------------------------------------------------------ the budget
@pytest.mark.parametrize("size,batch", [(20, 16), (17, 16), (33, 16), (32, 16), (10, 16), (600, 512)])
def test_steps_per_epoch_matches_fit(mnist_train, size, batch):
    data = mnist_train[:size]
    model = build_model("lenet")
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(1) if m.training else None)
    fit(model, data, epochs=2, batch_size=batch, device="cpu", progress=False)
    assert len(calls) == 2 * steps_per_epoch(size, batch)


def test_epochs_for_budget():
    assert epochs_for_budget(1000, 600, 512) == 500        # 2 steps per epoch: 512 + 88 images
    assert epochs_for_budget(3000, 54000, 512) == 29       # 106 steps per epoch; 29 * 106 = 3074 >= 3000
    assert epochs_for_budget(300, 100, 512) == 300         # one (partial) batch per epoch
    assert epochs_for_budget(10, 60000, 512) == 1
    assert epochs_for_budget(10, 17, 16) == 10             # 17 = 16 + a batch of one, which fit drops


def test_budget_takes_the_larger_of_steps_and_epochs():
    b = Budget(min_steps=3000, min_epochs=30)
    assert b.epochs(600, 128) == 600                       # 5 steps per epoch: the steps decide
    assert b.epochs(55000, 128) == 30                      # 430 steps per epoch: the epochs decide
    cfg = Recipe("vit", TrainConfig(batch_size=128, lr=1e-3), Budget(500)).config(1800, seed=3)
    assert (cfg.epochs, cfg.seed, cfg.lr) == (34, 3, 1e-3)
    assert cfg.epochs * steps_per_epoch(1800, 128) >= 500 > (cfg.epochs - 1) * steps_per_epoch(1800, 128)


# ------------------------------------------------------------------------------------------ the sweep
def test_records_are_appended_as_runs_finish(sets, tmp_path):
    path = tmp_path / "runs.jsonl"
    lines_seen = []
    records = sweep(sets, path, log=lambda line: lines_seen.append(len(load_results(path))))
    # the first log line is the plan (nothing written yet); then one line per run, after its record is on disk
    assert lines_seen == [0, 1, 2, 3, 4]
    assert len(records) == 4 and load_results(path) == records
    r = records[0]
    for key in experiments.RESULT_FIELDS:
        assert key in r, key
    assert [(r["model"], r["train_size"], r["seed"]) for r in records] == [
        ("lenet", 20, 0), ("vit", 20, 0), ("lenet", 50, 0), ("vit", 50, 0)]   # seed, then size, then model
    assert r["steps"] >= 4 and r["epochs"] == epochs_for_budget(4, 20, 16) and r["profile"] == "test"
    assert r["device"] == "cpu" and r["balanced"] and r["test_size"] == 200 and r["val_size"] == 100
    assert 0 <= r["test_acc"] <= 1 and 0 <= r["val_acc"] <= 1 and 0 <= r["val_acc_half"] <= 1
    assert 0 <= r["train_acc"] <= 1 and r["train_loss"] > 0 and r["images_per_s"] > 0
    assert r["torch"] == torch.__version__ and "commit" in r
    assert r["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and r["cpu"] and r["threads"] >= 1


def test_rerun_skips_finished_runs(sets, tmp_path, monkeypatch):
    path = tmp_path / "runs.jsonl"
    counter = CountFits()
    monkeypatch.setattr(experiments, "fit", counter)
    first = sweep(sets, path)
    assert counter.calls == 4
    again = sweep(sets, path)
    assert counter.calls == 4 and again == first                     # nothing trained twice
    bigger = sweep(sets, path, seeds=(0, 1))
    assert counter.calls == 8 and bigger[:4] == first                # only the new seed's 4 runs
    assert len(load_results(path)) == 8


def test_variants_are_runs_of_their_own(sets, tmp_path):
    path = tmp_path / "runs.jsonl"
    plain = [Recipe("lenet", replace(BASE, augment=False), Budget(4), variant="plain")]
    aug = [Recipe("lenet", BASE, Budget(4), variant="augment")]
    records = sweep(sets, path, rs=plain + aug, sizes=(20,))
    assert [r["variant"] for r in records] == ["plain", "augment"]
    best, means = choose_variant(records, "lenet", ["plain", "augment"])
    assert best == max(means, key=means.get) and means["plain"] == records[0]["val_acc"]
    with pytest.raises(ValueError, match="No \\(size, seed\\)"):
        choose_variant(records, "lenet", ["plain", "missing"])


def test_interrupted_sweep_resumes_to_the_same_records(sets, tmp_path, monkeypatch):
    straight = sweep(sets, tmp_path / "straight.jsonl")
    path = tmp_path / "cut.jsonl"
    monkeypatch.setattr(experiments, "fit", CountFits(fail_at=3))
    with pytest.raises(KeyboardInterrupt):
        sweep(sets, path)
    assert len(load_results(path)) == 2                               # the run in progress is lost, no more
    counter = CountFits()
    monkeypatch.setattr(experiments, "fit", counter)
    resumed = sweep(sets, path)
    assert counter.calls == 2
    assert without_timing(resumed) == without_timing(straight)       # seeded: identical numbers


def test_truncated_last_line_is_dropped_with_a_warning(sets, tmp_path, monkeypatch):
    path = tmp_path / "runs.jsonl"
    records = sweep(sets, path)
    text = path.read_text()
    cut = text[: len(text) - len(text.splitlines()[-1]) // 2 - 1]   # the last record half written, no newline
    path.write_text(cut)
    with pytest.warns(UserWarning, match="incomplete last line"):
        assert load_results(path) == records[:-1]
    counter = CountFits()
    monkeypatch.setattr(experiments, "fit", counter)
    with pytest.warns(UserWarning, match="incomplete last line"):
        resumed = sweep(sets, path)
    assert counter.calls == 1
    assert without_timing(resumed) == without_timing(records)
    lines = path.read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line) for line in lines)  # the file is whole again
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_results(path)                                          # and loads without a warning


def test_complete_last_record_without_newline_is_kept(sets, tmp_path, monkeypatch):
    path = tmp_path / "runs.jsonl"
    records = sweep(sets, path, sizes=(20,))
    path.write_text(path.read_text().rstrip("\n"))
    counter = CountFits()
    monkeypatch.setattr(experiments, "fit", counter)
    assert sweep(sets, path)[:2] == records and counter.calls == 2
    assert len(path.read_text().splitlines()) == 4


def test_broken_line_in_the_middle_raises(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text('{"model": "vit", "train_size": 20, "seed": 0, "test_acc": 0.5}\n{"model": \n'
                    '{"model": "cnn", "train_size": 20, "seed": 0, "test_acc": 0.5}\n')
    with pytest.raises(ValueError, match=r"runs.jsonl, line 2 is not valid JSON"):
        load_results(path)


def test_a_line_that_is_not_a_record_is_named(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text('{"model": "vit", "train_size": 20, "seed": 0, "test_acc": 0.5}\n[1, 2]\n{"model": "vit"}\n')
    with pytest.raises(ValueError, match=r"line 2 is not a run record"):
        load_results(path)


def test_changed_settings_are_refused(sets, tmp_path):
    path = tmp_path / "runs.jsonl"
    sweep(sets, path, sizes=(20,))
    with pytest.raises(ValueError, match="other settings"):
        sweep(sets, path, rs=recipes(steps=5), sizes=(20,))


def test_another_budget_rule_that_gives_the_same_epochs_is_the_same_run(sets, tmp_path, monkeypatch):
    path = tmp_path / "runs.jsonl"
    first = sweep(sets, path, sizes=(20,))                          # 4 steps at 2 a epoch: 2 epochs
    counter = CountFits()
    monkeypatch.setattr(experiments, "fit", counter)
    again = sweep(sets, path, rs=recipes(steps=1, epochs=2), sizes=(20,))   # 2 epochs by the other rule
    assert counter.calls == 0 and again == first
    assert again[0]["budget"] == {"min_steps": 4, "min_epochs": 1}  # the rule it was trained under
    with pytest.raises(ValueError, match="epochs"):                 # a rule that gives 3 epochs is another run
        sweep(sets, path, rs=recipes(steps=1, epochs=3), sizes=(20,))


def test_a_train_config_field_added_later_at_its_default_still_matches(sets, tmp_path):
    path = tmp_path / "runs.jsonl"
    records = sweep(sets, path, sizes=(20,))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for r in lines:
        del r["train_config"]["label_smoothing"]                     # as if written before the field existed
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert len(sweep(sets, path, sizes=(20,))) == len(records)


def test_whole_pool_and_too_large(sets, tmp_path):
    pool, test, val = sets
    small_pool = pool[:30]                                          # not class-balanced
    records = sweep((small_pool, test, val), tmp_path / "a.jsonl", rs=recipes()[:1], sizes=(20, 30))
    assert [r["balanced"] for r in records] == [True, False] and records[1]["pool_size"] == 30
    with pytest.raises(ValueError, match="larger than the pool"):
        sweep((small_pool, test, val), tmp_path / "b.jsonl", sizes=(31,))


def test_weights_analysis_and_fit_options(sets, tmp_path, monkeypatch):
    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return fit(*args, **kwargs)

    monkeypatch.setattr(experiments, "fit", spy)
    records = sweep(sets, tmp_path / "w.jsonl", rs=recipes()[1:], sizes=(20,), weights_dir=tmp_path / "w",
                    fit_options=lambda model: {"channels_last": False},
                    analyse=lambda model, record: {"depth": len(model.blocks)})
    assert seen[0]["channels_last"] is False and records[0]["depth"] == 1
    state = torch.load(experiments.weights_path(tmp_path / "w", "vit", 20, 0), weights_only=True)
    assert state["pos_embed"].shape == (1, 17, 16)


# ------------------------------------------------------------------------------------------ summaries
RECORDS = [{"model": m, "train_size": s, "seed": i, "test_acc": a}
           for m, s, accs in [("vit", 600, [0.80, 0.84, 0.83]), ("cnn", 600, [0.95, 0.96, 0.94]),
                              ("vit", 6000, [0.970, 0.975, 0.972]), ("cnn", 6000, [0.985, 0.986, 0.990]),
                              ("vit", 60000, [0.996, 0.995]), ("cnn", 60000, [0.994])]
           for i, a in enumerate(accs)]


def test_summary_equals_hand_computed():
    rows = {(r["model"], r["train_size"]): r for r in summarize(RECORDS)}
    vit = rows[("vit", 600)]
    assert vit["n"] == 3
    assert math.isclose(vit["mean"], (0.80 + 0.84 + 0.83) / 3)
    m = (0.80 + 0.84 + 0.83) / 3
    assert math.isclose(vit["std"], math.sqrt(((0.80 - m) ** 2 + (0.84 - m) ** 2 + (0.83 - m) ** 2) / 2))
    assert math.isclose(rows[("cnn", 6000)]["std"], statistics.stdev([0.985, 0.986, 0.990]))
    assert (vit["min"], vit["max"]) == (0.80, 0.84)
    assert rows[("cnn", 60000)]["n"] == 1 and math.isnan(rows[("cnn", 60000)]["std"])
    assert list(rows) == sorted(rows)


def test_compare_and_crossover():
    gaps = compare(summarize(RECORDS), "vit", "cnn")
    assert [g["train_size"] for g in gaps] == [600, 6000, 60000]
    assert math.isclose(gaps[0]["gap"], (0.80 + 0.84 + 0.83) / 3 - 0.95)
    vit_err, cnn_err = 1 - (0.970 + 0.975 + 0.972) / 3, 1 - (0.985 + 0.986 + 0.990) / 3
    assert math.isclose(gaps[1]["error_ratio"], vit_err / cnn_err)
    assert crossovers(gaps) == [(6000, 60000)]
    assert crossovers(gaps[:2]) == []


def test_summary_markdown():
    table = summary_markdown(summarize(RECORDS), ["vit", "cnn"])
    assert "| training images | vit | cnn |" in table
    assert "| 600 | **82.33** ± 2.08 (80.00–84.00), n=3 | **95.00** ± 1.00 (94.00–96.00), n=3 |" in table
    assert "| 60,000 |" in table and "**99.40**, n=1" in table


def test_error_slopes_per_seed():
    # error = 0.5 * n ** -0.5 exactly for seed 0, n ** -0.25 for seed 1
    recs = [{"model": "m", "train_size": n, "seed": 0, "test_acc": 1 - 0.5 * n ** -0.5} for n in (100, 1000, 10000)]
    recs += [{"model": "m", "train_size": n, "seed": 1, "test_acc": 1 - n ** -0.25} for n in (100, 1000, 10000)]
    mean, std, per_seed = error_slopes(recs, "m")
    assert per_seed[0] == pytest.approx(0.5) and per_seed[1] == pytest.approx(0.25)
    assert mean == pytest.approx(0.375) and std == pytest.approx(statistics.stdev([0.5, 0.25]))
    with pytest.raises(ValueError, match="two or more sizes"):
        error_slopes(recs[:1], "m")


def test_budget_doubling_pairs_runs_by_model_variant_size_and_seed():
    once = [{"model": "cnn", "variant": "augment", "train_size": 600, "seed": 0, "steps": 1000, "val_acc": 0.970},
            {"model": "cnn", "variant": "plain", "train_size": 600, "seed": 0, "steps": 1000, "val_acc": 0.950},
            {"model": "vit", "variant": "augment", "train_size": 6000, "seed": 0, "steps": 3000, "val_acc": 0.980}]
    twice = [{"model": "cnn", "variant": "augment", "train_size": 600, "seed": 0, "steps": 2000, "val_acc": 0.975},
             {"model": "vit", "variant": "augment", "train_size": 6000, "seed": 1, "steps": 6000, "val_acc": 0.990}]
    rows = experiments.budget_doubling(once, twice)
    assert len(rows) == 1                                  # the vit run of seed 1 has no 1x run
    row = rows[0]
    assert (row["model"], row["variant"], row["steps_1x"], row["steps_2x"]) == ("cnn", "augment", 1000, 2000)
    assert row["gain"] == pytest.approx(0.005)
