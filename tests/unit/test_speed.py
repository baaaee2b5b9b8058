"""The speed options of `fit` change speed, not results; the benchmarks run (issue 5, benchmarks/)."""
import json
import os
import warnings

import nbformat
import pytest
import torch

from course_utils import build_model
from course_utils.data import balanced_subset
from course_utils.speed import compile_model, fast_settings, fused_optimizer_supported, resolve_compile
from course_utils.train import TrainConfig, fit, make_optimizer, seed_everything


@pytest.fixture(scope="module")
def tiny_sets(mnist_train, mnist_test):
    return balanced_subset(mnist_train, 512, seed=0), balanced_subset(mnist_test, 200, seed=0)


def _fit(name, train, val, model_kwargs=None, **options):
    seed_everything(0)
    model = build_model(name, **(model_kwargs or {}))
    history = fit(model, train, val, epochs=2, batch_size=128, device="cpu", progress=False, **options)
    return model, history


def _assert_same_run(a, b, rtol=1e-4, atol=1e-5, images=2, weight_atol=1e-5):
    """Losses equal within float rounding; accuracies within `images` images of each other (a rounding
    difference can tip an image that sits on a decision boundary); weights within weight_atol."""
    (model_a, h_a), (model_b, h_b) = a, b
    for key in ("train_loss", "val_loss", "lr"):
        assert h_a[key] == pytest.approx(h_b[key], rel=rtol, abs=atol), key
    assert h_a["train_acc"] == pytest.approx(h_b["train_acc"], abs=images / 512 + 1e-9)
    assert h_a["val_acc"] == pytest.approx(h_b["val_acc"], abs=images / 200 + 1e-9)
    if weight_atol is None:
        return
    for (name, p), q in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.allclose(p.float(), q.float(), rtol=rtol, atol=weight_atol), name


# ------------------------------------------------------------------ choosing the options

def test_resolve_compile():
    assert resolve_compile(False, "cpu") is None
    assert resolve_compile(True, "cpu") == "default"
    assert resolve_compile("auto", "cpu") is None                 # compiling costs minutes on 2 cores
    assert resolve_compile("auto", "cuda") == "default"
    assert resolve_compile("reduce-overhead", "cuda") == "reduce-overhead"
    with pytest.raises(ValueError, match="compile must be one of"):
        resolve_compile("fast", "cpu")


def test_fast_settings_per_device_and_model(monkeypatch):
    vit, lenet, cnn = build_model("vit"), build_model("lenet"), build_model("cnn")
    off = dict(compile=False, channels_last=False, fused_optimizer=False)
    assert fast_settings("cpu", vit) == off and fast_settings("cpu", cnn) == off
    # a GPU (only torch.device("cuda") is built: no GPU is needed)
    assert fast_settings("cuda", vit) == dict(compile=False, channels_last=False, fused_optimizer=True)
    assert fast_settings("cuda", lenet)["channels_last"] and fast_settings("cuda", cnn)["channels_last"]
    assert not fast_settings("cuda")["channels_last"]
    # feature detection: an AdamW that takes no `fused` argument (as in old torch) gets no fused optimizer
    class OldAdamW(torch.optim.Optimizer):
        def __init__(self, params, lr=1e-3):
            super().__init__(params, {"lr": lr})

    monkeypatch.setattr(torch.optim, "AdamW", OldAdamW)
    assert fast_settings("cuda", vit)["fused_optimizer"] is False


def test_fused_optimizer_detection_on_this_cpu():
    from course_utils.speed import fused_optimizer_supported
    try:
        torch.optim.AdamW([torch.zeros(1, requires_grad=True)], fused=True)
        works = True
    except (RuntimeError, ValueError, TypeError):
        works = False
    assert fused_optimizer_supported("cpu") is works


# Fused AdamW/SGD on the CPU came with torch 2.4; at the floor (2.2) fit's default leaves it off (speed.fast_settings).
needs_cpu_fused = pytest.mark.skipif(not fused_optimizer_supported("cpu"), reason="fused CPU optimizers need torch >= 2.4")


@needs_cpu_fused
def test_make_optimizer_fused_flag():
    model = build_model("lenet")
    assert make_optimizer(model, TrainConfig()).defaults.get("fused") in (None, False)
    assert make_optimizer(model, TrainConfig(), fused=True).defaults["fused"] is True
    assert make_optimizer(model, TrainConfig(optimizer="sgd"), fused=True).defaults["fused"] is True


# ------------------------------------------------------------------ same results with and without

@needs_cpu_fused
def test_fused_optimizer_gives_the_same_run(tiny_sets):
    train, val = tiny_sets
    _assert_same_run(_fit("lenet", train, val), _fit("lenet", train, val, fused_optimizer=True))


def test_channels_last_gives_the_same_run(tiny_sets):
    train, val = tiny_sets
    plain = _fit("lenet", train, val)
    nhwc = _fit("lenet", train, val, channels_last=True)
    # Other convolution kernels round differently, and Adam divides each gradient by its own running size,
    # so a rounding-level difference in a near-zero gradient can become a step of up to lr in that weight:
    # losses and accuracies are compared (weights in the gradient test below).
    _assert_same_run(plain, nhwc, rtol=1e-3, weight_atol=None)
    assert nhwc[0].features[0].weight.is_contiguous()     # the model comes back in the usual layout


def test_channels_last_gives_the_same_gradients():
    """LeNet in both layouts: the same loss gradients within float rounding.

    Noise images, not digits: on a digit's flat background a 2x2 max-pool window holds equal maxima, and the
    two layouts' kernels may route the gradient to different ones of them (both correct). Not the BatchNorm
    CNN on a CPU: PyTorch's CPU BatchNorm is less exact in channels-last (gradients ~1% apart here), one
    reason fast_settings keeps channels-last for GPUs.
    """
    x, y = torch.randn(64, 1, 28, 28, generator=torch.Generator().manual_seed(1)), torch.arange(64) % 10
    grads = []
    for layout in (torch.contiguous_format, torch.channels_last):
        seed_everything(0)
        model = build_model("lenet").to(memory_format=layout)
        torch.nn.functional.cross_entropy(model(x.contiguous(memory_format=layout)), y).backward()
        grads.append([p.grad for p in model.parameters()])
    for g, h in zip(*grads):
        assert torch.allclose(g, h, rtol=1e-4, atol=1e-7)


def test_compile_failure_falls_back_to_eager(tiny_sets, monkeypatch):
    train, val = tiny_sets
    eager = _fit("lenet", train, val)

    class Broken:
        """What torch.compile returns where compiling fails: an error at the first call."""

        def __init__(self, model, **kwargs):
            self.calls = 0

        def __call__(self, x):
            raise RuntimeError("inductor: no working C++ compiler")

    monkeypatch.setattr(torch, "compile", Broken)
    with pytest.warns(UserWarning, match="torch.compile failed .*training without it"):
        fallback = _fit("lenet", train, val, compile=True)
    assert fallback[1]["train_loss"] == eager[1]["train_loss"]     # exactly the eager run
    _assert_same_run(eager, fallback, rtol=0, atol=0, images=0, weight_atol=0)


def test_compile_model_where_compile_itself_fails(monkeypatch):
    model = build_model("lenet")
    assert compile_model(model, None) is model

    def refuse(model, **kwargs):
        raise RuntimeError("Python 3.99 is not supported")

    monkeypatch.setattr(torch, "compile", refuse)
    with pytest.warns(UserWarning, match="Python 3.99"):
        assert compile_model(model, "default") is model


def test_errors_of_the_model_itself_still_surface(tiny_sets, monkeypatch):
    """The fallback retries in eager mode, so a real mistake is raised with its own message."""
    train, _ = tiny_sets
    monkeypatch.setattr(torch, "compile", lambda model, **kw: model.forward)
    with warnings.catch_warnings(record=True) as caught, pytest.raises(ValueError, match="Expected 3 channel"):
        warnings.simplefilter("always")
        fit(build_model("lenet", in_channels=3), train[:64], epochs=1, device="cpu", progress=False, compile=True)
    assert not [w for w in caught if "torch.compile" in str(w.message)]   # not blamed on compiling


@pytest.mark.skipif(not os.environ.get("COURSE_SLOW_TESTS"),
                    reason="torch.compile on a CPU takes minutes; set COURSE_SLOW_TESTS=1 to run it")
def test_compiled_training_matches_eager(tiny_sets):
    train, val = tiny_sets
    _assert_same_run(_fit("lenet", train, val), _fit("lenet", train, val, compile=True), rtol=1e-3, atol=1e-4)


# ------------------------------------------------------------------ the benchmark

def test_baseline_vit_is_the_course_vit_with_manual_attention():
    from benchmarks.baseline import ManualAttentionViT, build_baseline_model

    seed_everything(0)
    course = build_model("vit")
    seed_everything(0)
    tutorial = build_baseline_model("vit")
    assert isinstance(tutorial, ManualAttentionViT) and tutorial.cfg == course.cfg
    for a, b in zip(course.state_dict().values(), tutorial.state_dict().values()):
        assert torch.equal(a, b)                                    # same initial weights per seed
    x = torch.randn(8, 1, 28, 28)
    assert torch.allclose(course(x), tutorial(x), atol=1e-5)        # same function, other attention code
    assert type(build_baseline_model("lenet")).__name__ == "LeNet5"


def test_subset_indices_pick_the_balanced_subset(mnist_train):
    from benchmarks.time_to_accuracy import subset_indices

    idx = subset_indices(mnist_train, 300, seed=0)
    assert len(idx) == 300
    assert torch.equal(mnist_train.images[torch.tensor(idx)], balanced_subset(mnist_train, 300, seed=0).images)
    assert subset_indices(mnist_train, None, seed=0) is None


def test_time_to_accuracy_runs_and_reports(tiny_sets, tmp_path, capsys):
    from benchmarks import time_to_accuracy as tta

    out = tmp_path / "results.json"
    assert tta.main(["--device", "cpu", "--preset", "smoke", "--models", "lenet", "--in-process", "--workers", "0",
                     "--test-size", "200", "--targets", "0.1,0.99", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert [r["path"] for r in results["runs"]] == ["course", "baseline"]
    for run in results["runs"]:
        assert run["train_images"] == 512 and len(run["epochs"]) == 1
        assert run["images_per_s"] > 0 and run["peak_memory_mb"] > 0 and 0 <= run["best_acc"] <= 1
        assert set(run["time_to_target"]) == {"0.1", "0.99"}
    ratio = results["ratios"]["lenet"]["course"]
    assert ratio["images_per_s"] == pytest.approx(results["runs"][0]["images_per_s"] / results["runs"][1]["images_per_s"])
    printed = capsys.readouterr().out
    assert "course / baseline" in printed and "s to 99.00%" in printed

    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n<!-- results:cpu -->\nold table\n<!-- /results:cpu -->\nafter\n")
    tta.write_readme(results, readme)
    text = readme.read_text()
    assert "old table" not in text and "| course |" in text and text.endswith("after\n")


def test_time_to_accuracy_help(capsys):
    from benchmarks import time_to_accuracy as tta

    with pytest.raises(SystemExit) as exit_info:
        tta.main(["--help"])
    assert exit_info.value.code == 0
    assert "--train-size" in capsys.readouterr().out


def test_quick_profile_time_leaves_the_notebooks_alone(tmp_path):
    from benchmarks.quick_profile_time import render, time_notebooks

    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os\nprint(os.environ['COURSE_PROFILE'])")])
    path = folder / "01_tiny.ipynb"
    nbformat.write(nb, path)
    before = path.read_text()
    rows = time_notebooks([path], "quick", timeout=120)
    assert rows[0][0] == "01_tiny" and rows[0][1] > 0 and rows[0][2] is None
    assert path.read_text() == before                               # the original is not rewritten
    table, total, verdict = render(rows, "quick")
    assert "| **total** |" in table and "within" in verdict


def test_record_times_keeps_finished_notebooks_only(tmp_path):
    from benchmarks.quick_profile_time import record_times

    log = tmp_path / "run_times.json"
    log.write_text(json.dumps({"01_x": {"cpu": {"seconds": 9.0, "machine": "m"}}}))
    record_times([("01_x", 3.14159, None), ("02_y", 1.0, "RuntimeError: boom")], "quick", log)
    times = json.loads(log.read_text())
    assert times["01_x"]["quick"]["seconds"] == 3.1 and times["01_x"]["cpu"]["seconds"] == 9.0
    assert "02_y" not in times
