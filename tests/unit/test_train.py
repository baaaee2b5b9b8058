import pytest
import torch

from course_utils import build_model
from course_utils.data import balanced_subset
from course_utils.train import CheckpointError, TrainConfig, amp_settings, evaluate, fit, load_weights, seed_everything


@pytest.fixture(scope="module")
def small_sets(mnist_train, mnist_test):
    return balanced_subset(mnist_train, 3000, seed=0), balanced_subset(mnist_test, 1000, seed=0)


# Learning on real data: the bounds sit with margin below what the run reaches (LeNet 0.959, ViT 0.860 on CPU,
# torch 2.14); `python -m pytest tests/test_train.py -k learn -s` prints it.
@pytest.mark.parametrize("name,epochs,min_acc", [("lenet", 6, 0.93), ("vit", 8, 0.80)])
def test_models_learn_real_mnist(small_sets, name, epochs, min_acc):
    train, test = small_sets
    seed_everything(0)
    model = build_model(name)
    history = fit(model, train, cfg=TrainConfig(epochs=epochs, batch_size=64, lr=2e-3), device="cpu", progress=False)
    steps = epochs * (3000 // 64 + 1)
    result = evaluate(model, test)
    print(f"{name}: {steps} steps on 3000 MNIST images -> test accuracy {result.accuracy:.3f}")
    assert history["train_loss"][-1] < history["train_loss"][0] / 2
    assert result.accuracy >= min_acc
    assert result.macro_f1 >= min_acc - 0.02
    assert result.confusion.sum() == 1000 and result.confusion.trace() == round(result.accuracy * 1000)


def test_two_seeded_runs_are_identical(small_sets):
    train, val = small_sets
    runs = []
    for _ in range(2):
        seed_everything(1)
        model = build_model("vit", depth=1, embed_dim=32, num_heads=2)
        runs.append(fit(model, train[:512], val[:256], epochs=2, batch_size=128, augment=True, device="cpu", progress=False))
    assert runs[0]["train_loss"] == runs[1]["train_loss"] and runs[0]["val_acc"] == runs[1]["val_acc"]


def test_history_fields(small_sets):
    train, val = small_sets
    seed_everything(0)
    h = fit(build_model("lenet"), train[:600], val[:200], epochs=2, batch_size=100, device="cpu", progress=False)
    assert h["epoch"] == [1, 2]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time", "images_per_s"):
        assert len(h[key]) == 2, key
    assert h["images_per_s"][0] > 0 and 0 <= h["val_acc"][1] <= 1
    assert h["lr"][-1] < 1e-6  # the cosine schedule ends at zero


def test_checkpoint_resume_continues_with_identical_state(small_sets, tmp_path):
    train, val = small_sets
    train, val = train[:512], val[:256]
    cfg = TrainConfig(epochs=3, batch_size=128, augment=True)

    seed_everything(0)
    straight = build_model("vit", depth=1, embed_dim=32, num_heads=2)
    h_straight = fit(straight, train, val, cfg, device="cpu", progress=False)

    class Disconnect(Exception):
        pass

    def drop_after_first_epoch(epoch, history):
        if epoch == 1:
            raise Disconnect

    path = tmp_path / "run.pt"
    seed_everything(0)
    interrupted = build_model("vit", depth=1, embed_dim=32, num_heads=2)
    with pytest.raises(Disconnect):
        fit(interrupted, train, val, cfg, device="cpu", checkpoint=path, progress=False, on_epoch_end=drop_after_first_epoch)
    seed_everything(123)                        # a fresh kernel: other seed, fresh weights
    resumed = build_model("vit", depth=1, embed_dim=32, num_heads=2)
    h_resumed = fit(resumed, train, val, cfg, device="cpu", checkpoint=path, progress=False)
    assert h_resumed["epoch"] == [1, 2, 3]
    assert h_resumed["train_loss"] == h_straight["train_loss"]
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    # a finished run is not trained again: it returns its history at once
    assert fit(resumed, train, val, cfg, device="cpu", checkpoint=path, progress=False) == h_resumed
    # and its weights load into a fresh model
    fresh = load_weights(build_model("vit", depth=1, embed_dim=32, num_heads=2), path)
    assert torch.equal(fresh.head.weight, resumed.head.weight)


def test_bad_checkpoints_are_explained(small_sets, tmp_path):
    train, _ = small_sets
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt or incomplete.*Delete the file"):
        fit(build_model("lenet"), train[:100], epochs=1, device="cpu", checkpoint=corrupt, progress=False)
    path = tmp_path / "lenet.pt"
    fit(build_model("lenet"), train[:100], epochs=1, device="cpu", checkpoint=path, progress=False)
    with pytest.raises(CheckpointError, match="different model"):
        fit(build_model("cnn"), train[:100], epochs=1, device="cpu", checkpoint=path, progress=False)
    with pytest.raises(CheckpointError, match="other training settings.*'lr'"):
        fit(build_model("lenet"), train[:100], epochs=1, lr=1e-4, device="cpu", checkpoint=path, progress=False)
    with pytest.raises(CheckpointError, match="different model"):
        load_weights(build_model("vit"), path)


def test_amp_selection(monkeypatch):
    assert amp_settings("cpu") == (None, False)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))   # H100
    assert amp_settings("cuda") == (torch.bfloat16, False)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))   # A100
    assert amp_settings("cuda") == (torch.bfloat16, False)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))   # T4: bf16 is emulated
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert amp_settings("cuda") == (torch.float16, True)
    monkeypatch.setenv("COURSE_AMP", "0")                  # plain fp32 on a GPU too (the reference runs)
    assert amp_settings("cuda") == (None, False)
    monkeypatch.setenv("COURSE_AMP", "1")
    assert amp_settings("cuda") == (torch.float16, True)


def test_bad_train_config():
    with pytest.raises(ValueError, match="optimizer must be"):
        TrainConfig(optimizer="adam")
    with pytest.raises(ValueError, match="epochs and batch_size"):
        TrainConfig(epochs=0)
