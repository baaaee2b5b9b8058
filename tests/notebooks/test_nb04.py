"""Notebook 04_cnn_baselines: multiply-add counting (course_utils.flops), the LeNet checks, feature-map plots."""
import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils import LeNet5, build_model, checks, plots
from course_utils.flops import count_macs, layer_summary, macs_by_type

DIGIT = (1, 1, 28, 28)


def torch_macs(model, x, **kwargs):
    """PyTorch's own counter (FLOPs = 2 x MACs). It misses the fused CPU attention kernel, hence **kwargs."""
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x, **kwargs)
    return counter.get_total_flops() // 2


# --- count_macs -----------------------------------------------------------------------------------------
def test_lenet_macs_by_hand():
    by_hand = (6 * 28 * 28 * (1 * 5 * 5)      # conv1: 6 maps of 28x28, each output a 1x5x5 window
               + 16 * 10 * 10 * (6 * 5 * 5)   # conv2: 16 maps of 10x10, each output a 6x5x5 window
               + 400 * 120 + 120 * 84 + 84 * 10)
    assert by_hand == 416_520
    assert count_macs(build_model("lenet"), DIGIT) == by_hand
    assert count_macs(build_model("lenet"), (8, 1, 28, 28)) == 8 * by_hand
    assert macs_by_type(build_model("lenet"), DIGIT) == {"Conv2d": 117_600 + 240_000, "Linear": 58_920}


def test_single_layers_by_hand():
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)            # out (2, 6, 5, 5), window 2x3x3
    assert count_macs(conv, (2, 4, 9, 9)) == 2 * 6 * 5 * 5 * (2 * 3 * 3)
    assert count_macs(nn.Linear(7, 3), (5, 11, 7)) == 5 * 11 * 7 * 3   # every row of the input
    up = nn.ConvTranspose2d(4, 6, 3, stride=2)
    assert count_macs(up, (2, 4, 9, 9)) == 2 * 4 * 9 * 9 * 6 * 3 * 3
    assert count_macs(nn.Sequential(nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(3)), (1, 3, 8, 8)) == 0


def test_vit_macs_by_hand_and_against_torch():
    vit = build_model("vit")                           # patch 7, D 128, depth 4, mlp 256, 17 tokens
    N, D, hidden = 17, 128, 256
    block = N * D * 3 * D + 2 * N * N * D + N * D * D + 2 * N * D * hidden
    by_hand = 16 * D * 49 + 4 * block + D * 10
    assert count_macs(vit, DIGIT) == by_hand
    assert macs_by_type(vit, DIGIT)["attention"] == 4 * 2 * N * N * D
    # the return_attention path multiplies explicitly, so PyTorch's counter sees the attention too
    x = torch.zeros(2, 1, 28, 28)
    assert count_macs(vit, tuple(x.shape)) == torch_macs(vit, x, return_attention=True)


@pytest.mark.parametrize("name", ["lenet", "cnn"])
def test_cnns_agree_with_torch(name):
    model = build_model(name)
    assert count_macs(model, (3, 1, 28, 28)) == torch_macs(model, torch.zeros(3, 1, 28, 28))


def test_nn_multihead_attention():
    class Wrapper(nn.Module):   # need_weights=True: the explicit (countable) path
        def __init__(self):
            super().__init__()
            self.mha = nn.MultiheadAttention(32, 4, batch_first=True)

        def forward(self, x):
            return self.mha(x, x, x, need_weights=True)[0]

    model = Wrapper()
    B, N, E = 2, 5, 32
    with FlopCounterMode(display=False) as counter:   # training mode: eval + no_grad takes a fused fast path
        model(torch.zeros(B, N, E))
    assert count_macs(model, (B, N, E)) == B * (4 * N * E * E + 2 * N * N * E) == counter.get_total_flops() // 2
    rows = layer_summary(model, (B, N, E))
    assert [r["type"] for r in rows] == ["attention"] and rows[0]["params"] == sum(p.numel() for p in model.parameters())


def test_layer_summary_shapes_and_state():
    model = build_model("cnn").train()
    before = [b.clone() for b in model.buffers()]
    rows = layer_summary(model, DIGIT)
    assert model.training                                                   # mode restored
    assert all(torch.equal(a, b) for a, b in zip(before, model.buffers()))  # BatchNorm statistics untouched
    assert not any(m._forward_hooks for m in model.modules())               # hooks removed
    lenet_rows = layer_summary(build_model("lenet"), DIGIT)
    shapes = [r["output_shape"] for r in lenet_rows if r["type"] in ("Conv2d", "MaxPool2d", "Linear")]
    assert shapes == [(1, 6, 28, 28), (1, 6, 14, 14), (1, 16, 10, 10), (1, 16, 5, 5), (1, 120), (1, 84), (1, 10)]
    assert sum(r["params"] for r in lenet_rows) == 61_706
    assert rows[-1]["output_shape"] == (1, 10)


# --- check_conv_output_size -----------------------------------------------------------------------------
def test_check_conv_output_size_accepts_right_answers():
    def floor_or_ceil(n, k, s, p, d=1, ceil_mode=False):
        span = n + 2 * p - d * (k - 1) - 1
        return (math.ceil if ceil_mode else math.floor)(span / s) + 1

    def integer_only(n, k, s, p, d, ceil_mode):
        span = n + 2 * p - d * (k - 1) - 1
        return (span + s - 1) // s + 1 if ceil_mode else span // s + 1

    assert checks.check_conv_output_size(floor_or_ceil).passed
    assert checks.check_conv_output_size(integer_only).passed
    # the wrong versions and their hints: tests/notebooks/wrong_solutions/conv_output_size.py


# --- check_lenet ----------------------------------------------------------------------------------------
class FunctionalLeNet(nn.Module):
    """The same network written another way (no nn.Sequential, F.relu in forward): must pass."""

    def __init__(self, flat=16 * 5 * 5, pad=2, act=F.relu, pool=F.max_pool2d, final_act=False, num_classes=10):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5, padding=pad), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(flat, 120), nn.Linear(120, 84), nn.Linear(84, num_classes)
        self.act, self.pool, self.final_act = act, pool, final_act

    def forward(self, x):
        x = self.pool(self.act(self.conv1(x)), 2)
        x = self.pool(self.act(self.conv2(x)), 2).flatten(1)
        x = self.fc3(self.act(self.fc2(self.act(self.fc1(x)))))
        return self.act(x) if self.final_act else x


def test_check_lenet_passes_the_reference_in_any_layout():
    assert checks.check_lenet(LeNet5).passed
    assert checks.check_lenet(LeNet5()).passed
    assert checks.check_lenet(FunctionalLeNet()).passed


@pytest.mark.parametrize("model,hint", [
    (partial(FunctionalLeNet, flat=16 * 4 * 4), "WITHOUT the first conv's padding"),
    (partial(FunctionalLeNet, flat=16 * 7 * 7), "shrinks 14x14 to 10x10"),
    (partial(FunctionalLeNet, flat=6 * 14 * 14), "after the first stage"),
    (partial(FunctionalLeNet, pad=0), "padding=2"),
    (partial(FunctionalLeNet, pad=0, flat=16 * 4 * 4), "28 + 2*2 = 32"),
    (partial(FunctionalLeNet, act=torch.tanh), "tanh"),
    (partial(FunctionalLeNet, pool=F.avg_pool2d), "average pooling"),
    (partial(FunctionalLeNet, final_act=True), "ReLU after the last Linear"),
    (partial(FunctionalLeNet, act=lambda t: t), "no activations"),
    (lambda num_classes=10: nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, num_classes)),
     "flatten the (B, 16, 5, 5) maps"),
    (lambda num_classes=10: nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                          nn.Linear(1176, num_classes)),
     "LeNet-5 has 2 convs"),
    (lambda num_classes=10: nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, num_classes)), "leave out extra layers"),
    (lambda num_classes=10: nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.Conv2d(6, 16, 5), nn.Flatten(),
                                          nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, num_classes)),
     "5x5 kernels"),
])
def test_check_lenet_catches_mistakes(model, hint):
    # each fails; the hint for each kind of mistake is tested in tests/notebooks/wrong_solutions/lenet.py
    result = checks.check_lenet(model)
    assert not result.passed, result.message


def test_check_lenet_not_done_is_reported_then_raised(capsys):
    class NotDone(nn.Module):
        def __init__(self, num_classes=10):
            super().__init__()
            raise NotImplementedError

    with pytest.raises(NotImplementedError):
        checks.check_lenet(NotDone)
    assert "FAIL [lenet] not implemented yet" in capsys.readouterr().out


# --- plots ----------------------------------------------------------------------------------------------
def test_plot_feature_maps():
    import matplotlib.pyplot as plt

    fig = plots.plot_feature_maps(torch.randn(6, 28, 28), image=torch.rand(1, 28, 28), title="maps")
    assert len([a for a in fig.axes if a.images]) == 7
    plt.close(fig)
    fig = plots.plot_feature_maps(torch.randn(16, 1, 5, 5), symmetric=True, ncols=8, titles=[str(i) for i in range(16)])
    assert len([a for a in fig.axes if a.images]) == 16
    plt.close(fig)


def test_checks_leave_the_random_state_alone_and_report_unfinished(capsys):
    state = torch.random.get_rng_state()
    checks.check_lenet(LeNet5)
    assert torch.equal(state, torch.random.get_rng_state())

    def not_done(*args):
        raise NotImplementedError

    with pytest.raises(NotImplementedError):
        checks.check_conv_output_size(not_done)
    assert "FAIL [conv_output_size] not implemented yet" in capsys.readouterr().out
