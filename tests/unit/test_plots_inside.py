"""07's figures: they draw what they are given, on the colour scale they promise."""
import matplotlib
import pytest
import torch

from course_utils import plots_inside as inside

matplotlib.use("Agg")


def test_cls_attention_uses_one_colour_scale():
    cls = torch.rand(3, 2, 16)                                       # (L, h, N)
    cls[1, 1, 5] = 3.0                                               # one strong weight sets the scale everywhere
    fig = inside.plot_cls_attention(torch.rand(1, 28, 28), cls, entropy=torch.rand(3, 2))
    overlays = [ax.images[1] for ax in fig.axes if len(ax.images) == 2]
    assert len(overlays) == 6 and all(im.get_clim() == (0.0, 3.0) for im in overlays)
    assert overlays[0].get_array().shape == (28, 28)                 # patches drawn as 7x7 blocks


def test_digit_maps_normalised_or_raw():
    images = torch.rand(3, 1, 28, 28)
    maps = {"patches": torch.rand(3, 16), "pixels": 5 * torch.rand(3, 28, 28)}
    fig = inside.plot_digit_maps(images, maps, titles=["a", "b", "c"])
    assert {ax.images[1].get_clim() for ax in fig.axes if len(ax.images) == 2} == {(0.0, 1.0)}
    raw = inside.plot_digit_maps(images, maps, normalize=False)
    top = float(maps["pixels"].max())
    assert all(ax.images[1].get_clim()[1] == pytest.approx(top) for ax in raw.axes if len(ax.images) == 2)
    with pytest.raises(ValueError, match="square grid"):
        inside.plot_digit_maps(images, {"with cls": torch.rand(3, 17)})


def test_other_figures_draw():
    inside.plot_head_entropy(torch.rand(4, 4) * 4, 16)
    inside.plot_attention_distance({"a": torch.rand(4, 4) * 10, "b": torch.rand(4, 4) * 10}, uniform=11.2, patch_size=7)
    inside.plot_ablation(["x", "y"], [0.95, 0.9])
    fig = inside.plot_attention_choice(torch.rand(1, 28, 28), torch.rand(4, 4, 16), torch.rand(4, 16), layer=2,
                                       head=None, label=3, prediction=5)
    assert "mean of heads" in fig.axes[1].get_title()
