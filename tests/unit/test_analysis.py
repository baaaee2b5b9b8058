"""course_utils.analysis against hand-computed small cases."""
import math

import pytest
import torch

from course_utils import analysis
from course_utils.analysis import (
    attention_rollout,
    grad_cam,
    input_saliency,
    locality_score,
    mean_attention_distance,
)


def test_locality_score():
    g = torch.Generator().manual_seed(0)
    assert abs(locality_score(torch.randn(1, 17, 64, generator=g), 4)) < 0.3
    rows, cols = torch.meshgrid(torch.arange(4.0), torch.arange(4.0), indexing="ij")
    # smooth functions of the position: neighbours get similar embeddings
    freqs = torch.linspace(0.2, 0.8, 16)
    smooth = torch.cat([torch.cos(freqs * rows.reshape(-1, 1)), torch.cos(freqs * cols.reshape(-1, 1)),
                        torch.sin(freqs * rows.reshape(-1, 1)), torch.sin(freqs * cols.reshape(-1, 1))], 1)  # (16, 64)
    assert locality_score(smooth, 4) > 0.8
    with pytest.raises(ValueError):
        locality_score(torch.randn(10, 8), 4)


def test_plot_position_similarity():
    import matplotlib
    matplotlib.use("Agg")
    from course_utils.plots import plot_position_similarity

    fig = plot_position_similarity({"a": torch.randn(1, 17, 32), "b": torch.randn(16, 8)}, 4)
    assert len(fig.axes) == 2 * 16 + 1                              # 16 small maps per panel + the colour bar
    assert fig.axes[0].images[0].get_array().mask[0, 0]             # a patch's own similarity is hidden (NaN)


# ---------------------------------------------------------------------------------- attention distance
def test_attention_distance_hand_computed():
    # a 2x2 grid of 7-pixel patches plus a class token; head 0 attends only to itself, head 1 splits its
    # attention evenly between the patch to the right/left and the class token (which is left out)
    n = 5
    a = torch.zeros(1, 2, n, n)
    a[0, 0] = torch.eye(n)
    right = {1: 2, 2: 1, 3: 4, 4: 3}                      # token -> its horizontal neighbour (1-based: cls is 0)
    for q, k in right.items():
        a[0, 1, q, k] = 0.5
        a[0, 1, q, 0] = 0.5
    a[0, 1, 0, 0] = 1.0
    d = mean_attention_distance(a, patch_size=7)
    assert d.shape == (2,)
    assert d[0] == pytest.approx(0.0)                     # looks at itself: distance 0
    assert d[1] == pytest.approx(7.0)                     # renormalised over patches: all on a neighbour 7 px away


def test_attention_distance_uniform_is_the_mean_pair_distance():
    grid, P = 3, 4
    a = torch.full((2, 1, grid * grid, grid * grid), 1.0 / (grid * grid))
    d = mean_attention_distance(a, P, has_cls_token=False)
    xy = [(r, c) for r in range(grid) for c in range(grid)]
    mean = sum(math.dist(p, q) for p in xy for q in xy) / len(xy) ** 2 * P
    assert d.item() == pytest.approx(mean, rel=1e-5)
    with pytest.raises(ValueError, match="square grid"):
        mean_attention_distance(torch.ones(1, 1, 6, 6) / 6, 4, has_cls_token=False)
    with pytest.raises(ValueError, match="\\(B, h, N, N\\)"):
        mean_attention_distance(torch.ones(3, 3), 4)


def test_attention_distances_of_a_vit():
    from course_utils import build_model
    torch.manual_seed(0)
    model = build_model("vit", depth=2, embed_dim=16, num_heads=2)
    d = analysis.attention_distances(model, torch.randn(3, 1, 28, 28), batch_size=2)
    assert d.shape == (2, 2) and (d > 0).all() and (d < 28 * 1.5).all()
    assert model.training                                 # left as it was


# ---------------------------------------------------------------------------------------------- rollout
def test_rollout_hand_computed():
    a1 = torch.tensor([[[[0.5, 0.5], [0.0, 1.0]]]])      # (1, 1, 2, 2)
    a2 = torch.tensor([[[[1.0, 0.0], [0.5, 0.5]]]])
    r = attention_rollout([a1, a2], residual=False)
    assert torch.allclose(r, (a2 @ a1)[:, 0])
    # with the residual: 0.5 A + 0.5 I per layer
    eye = torch.eye(2)
    expected = (0.5 * a2[0, 0] + 0.5 * eye) @ (0.5 * a1[0, 0] + 0.5 * eye)
    assert torch.allclose(attention_rollout([a1, a2])[0], expected)
    assert torch.allclose(attention_rollout([a1, a2]).sum(-1), torch.ones(1, 2))   # rows still sum to 1


def test_rollout_averages_heads():
    h0 = torch.eye(3)
    h1 = torch.full((3, 3), 1 / 3)
    a = torch.stack([h0, h1])[None]                       # (1, 2, 3, 3)
    assert torch.allclose(attention_rollout([a], residual=False)[0], (h0 + h1) / 2)


# --------------------------------------------------------------------------------------------- saliency
def test_input_saliency_of_a_linear_model_is_its_weights():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    x = torch.randn(2, 1, 2, 2)
    s = input_saliency(model, x, target=torch.tensor([1, 2]))
    w = model[1].weight.detach()                          # (3, 4)
    assert torch.allclose(s[0], w[1].abs().view(2, 2)) and torch.allclose(s[1], w[2].abs().view(2, 2))
    assert x.grad is None                                 # the caller's tensor is untouched


def test_grad_cam_hand_computed():
    # conv = identity (1 channel), head = mean of the map * 1: the gradient is uniform, so the CAM is the
    # ReLU of the input itself, scaled to a maximum of 1
    conv = torch.nn.Conv2d(1, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    model = torch.nn.Sequential(conv, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(1, 2, bias=False))
    with torch.no_grad():
        model[3].weight.copy_(torch.tensor([[1.0], [-1.0]]))
    x = torch.tensor([[[[1.0, -2.0], [3.0, 0.5]]]])
    cam = grad_cam(model, conv, x, target=torch.tensor([0]))
    assert torch.allclose(cam[0], torch.tensor([[1 / 3, 0.0], [1.0, 0.5 / 3]]), atol=1e-6)


# ---------------------------------------------------------------------------------- class token, entropy
def test_cls_attention_takes_row_zero_without_the_class_token_column():
    a = torch.arange(2 * 3 * 5 * 5, dtype=torch.float).reshape(2, 3, 5, 5)
    b = a + 1000
    out = analysis.cls_attention([a, b])
    assert out.shape == (2, 2, 3, 4)                                 # (B, L, h, N)
    assert out[1, 0, 2].tolist() == a[1, 2, 0, 1:].tolist()
    assert out[0, 1, 0].tolist() == [1001.0, 1002.0, 1003.0, 1004.0]


def test_attention_entropy_in_bits_by_hand():
    rows = torch.tensor([[0.25, 0.25, 0.25, 0.25],                 # uniform over 4: log2(4) = 2 bits
                         [1.0, 0.0, 0.0, 0.0],                     # one token: 0 bits
                         [0.5, 0.25, 0.25, 0.0],                   # 0.5*1 + 2*0.25*2 = 1.5 bits
                         [0.2, 0.2, 0.0, 0.0]])                    # renormalised to (0.5, 0.5): 1 bit
    assert analysis.attention_entropy(rows).tolist() == pytest.approx([2.0, 0.0, 1.5, 1.0])
    assert analysis.attention_entropy(rows.reshape(2, 2, 4)).shape == (2, 2)
