import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_utils import plots
from course_utils.profiles import get_profile


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_patch_figures():
    image = torch.rand(1, 28, 28)
    fig = plots.plot_patches(image, 7)
    assert len(fig.axes) == 1 + 16                       # the image and its 16 patches
    assert "16 patches" in fig.axes[0].get_title()
    fig = plots.plot_patch_sequence(image, 4)
    assert fig.axes[0].images[0].get_array().shape == (49, 16)   # (N, C*P*P)


def test_attention_map_figure_and_error():
    attn = torch.rand(4, 17, 17).softmax(-1)
    fig = plots.plot_attention_map(torch.rand(1, 28, 28), attn, 7, query=3)
    assert len(fig.axes) == 4 and "patch 2" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="has 16 patches"):
        plots.plot_attention_map(torch.rand(1, 28, 28), torch.rand(2, 50, 50), 7)


def test_history_confusion_and_images():
    h = {"epoch": [1, 2], "train_loss": [1.0, 0.5], "train_acc": [0.6, 0.8], "val_loss": [1.1, 0.6], "val_acc": [0.5, 0.7]}
    fig = plots.plot_history({"vit": h, "lenet": h})
    assert len(fig.axes[0].lines) == 4
    fig = plots.plot_confusion_matrix(np.eye(3) * 5 + 1, ["a", "b", "c"], normalize=True)
    assert fig.axes[0].get_xlabel() == "predicted"
    fig = plots.show_images(torch.rand(5, 1, 28, 28), torch.tensor([1, 2, 3, 4, 5]), torch.tensor([1, 2, 0, 4, 5]))
    assert fig.axes[2].title.get_color() == "tab:red"


def test_data_efficiency_curve_uses_mean_and_spread():
    records = [{"model": m, "train_size": s, "seed": k, "test_acc": a + 0.01 * k}
               for m, a in (("vit", 0.8), ("cnn", 0.9)) for s in (600, 6000) for k in range(3)]
    fig = plots.plot_data_efficiency(records)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    line = ax.lines[0]  # cnn (sorted), means at 0.91
    np.testing.assert_allclose(line.get_ydata(), [0.91, 0.91])


def test_profiles(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    p = get_profile()
    assert p.name == "quick" and p.choose(quick=1, cpu=2, gpu=3) == 1
    monkeypatch.delenv("COURSE_PROFILE")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_profile().name == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_profile().name == "gpu"
    with pytest.raises(ValueError, match="Unknown run profile 'fast'"):
        get_profile("fast")
