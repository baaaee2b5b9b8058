"""Checks of notebook 04_cnn_baselines."""
import math

import torch
from torch import nn

from .core import report, _call, _reports_unfinished, _same

@_reports_unfinished
def check_lenet_flatten(value, exercise="lenet_flatten"):
    """The number of features LeNet-5 flattens before its first Linear layer on 28x28 digits."""
    if value == 16 * 5 * 5:
        return report(exercise, True, "16 channels x 5 x 5 = 400 features reach the first Linear layer.")
    hints = {16 * 4 * 4: "with padding=2 the first conv keeps 28x28, so the second conv sees 14x14 -> 10x10 -> pooled 5x5",
             16 * 7 * 7: "the second conv (5x5, no padding) shrinks 14x14 to 10x10 before pooling",
             6 * 14 * 14: "that is after the first stage; LeNet has two conv-pool stages"}
    return report(exercise, False, f"{value} is not right. Hint: {hints.get(value, 'follow the shape: 28 -> conv(pad 2) 28 -> pool 14 -> conv 10 -> pool 5, 16 channels')}.")


def _is_int(value):
    """True for Python, NumPy and 0-d tensor integers (not floats, even 28.0)."""
    if torch.is_tensor(value):
        return value.numel() == 1 and not value.is_floating_point()
    try:
        import operator
        operator.index(value)
        return not isinstance(value, bool)
    except TypeError:
        return False


@_reports_unfinished
def check_conv_output_size(fn, exercise="conv_output_size"):
    """fn(size, kernel_size, stride, padding) -> the output side of a conv or pooling layer (an int)."""
    cases = [(28, 5, 1, 2), (14, 5, 1, 0), (28, 2, 2, 0), (10, 2, 2, 0), (28, 3, 1, 1), (28, 7, 7, 0), (7, 2, 2, 0),
             (11, 3, 2, 1), (9, 2, 2, 0), (30, 7, 7, 0)]  # the last two: a layer drops what does not fill a window
    for n, k, s, p in cases:
        expected = (n + 2 * p - k) // s + 1
        out, err = _call(fn, n, k, s, p)
        if err:
            return report(exercise, False, err)
        if _is_int(out) and int(out) == expected:
            continue
        args = f"size={n}, kernel_size={k}, stride={s}, padding={p}"
        if isinstance(out, float) and out == (n + 2 * p - k) / s + 1:
            hint = "a layer makes whole rows of outputs: use floor division (n + 2p - k) // s + 1, so the result is an int"
        elif out == expected and isinstance(out, float):
            hint = "return an int (use // rather than /)"
        elif out in (round((n + 2 * p - k) / s) + 1, math.ceil((n + 2 * p - k) / s) + 1):
            hint = "round down, not to the nearest or up: a last window that does not fit is dropped, (n + 2p - k) // s + 1"
        elif out == (n + 2 * p - k) // s:
            hint = "add 1: the first window already gives one output, each further stride one more"
        elif out == (n + p - k) // s + 1:
            hint = "padding adds p pixels on BOTH sides: n + 2p"
        elif out == (n - k) // s + 1:
            hint = "the padding is missing: the padded input is n + 2p wide"
        elif out == (n + 2 * p - k) + 1:
            hint = "the stride is missing: windows start every s pixels, so divide by s"
        else:
            hint = "the output side is (n + 2p - k) // s + 1"
        return report(exercise, False, f"got {out!r} for {args}, expected {expected}. Hint: {hint}.")
    return report(exercise, True, "(n + 2p - k) // s + 1 on LeNet's, the small CNN's and the ViT's layer sizes.")


def _lenet_layers(model):
    """The Conv2d and Linear layers of a model, in the order they were created."""
    return ([m for m in model.modules() if isinstance(m, nn.Conv2d)],
            [m for m in model.modules() if isinstance(m, nn.Linear)])


def _lenet_variant(ref, x, act=torch.relu, pool=torch.nn.functional.max_pool2d, final_act=False):
    """course_utils.LeNet5 written as functions, with one piece swapped: to recognise a student's mistake."""
    (c1, c2), (f1, f2, f3) = _lenet_layers(ref)
    x = pool(act(c1(x)), 2)
    x = pool(act(c2(x)), 2).flatten(1)
    x = f3(act(f2(act(f1(x)))))
    return act(x) if final_act else x


@_reports_unfinished
def check_lenet(model, exercise="lenet"):
    """A student's LeNet-5 (a module, or a class to build one) against course_utils.LeNet5 with the same weights.

    Compares the conv and Linear layer sizes in order (so any layout works: nn.Sequential or F.relu in
    forward), copies the reference weights in, and compares the logits on random 28x28 digits.
    """
    from ..cnn import LeNet5

    if isinstance(model, type) or (callable(model) and not isinstance(model, nn.Module)):
        with torch.random.fork_rng(devices=[]):                    # building it must not move the notebook's seed
            model, err = _call(model)
        if err:
            return report(exercise, False, f"building the model failed: {err}")
    if not isinstance(model, nn.Module):
        return report(exercise, False, f"expected an nn.Module, got {type(model).__name__}.")
    num_classes = None
    convs, linears = _lenet_layers(model)
    if linears:
        num_classes = linears[-1].out_features
    with torch.random.fork_rng(devices=[]):                        # leave the notebook's random state alone
        torch.manual_seed(9)
        ref = LeNet5(num_classes=num_classes or 10).eval()
    ref_convs, ref_linears = _lenet_layers(ref)
    if len(convs) != 2 or len(linears) != 3:
        return report(exercise, False, f"found {len(convs)} Conv2d and {len(linears)} Linear layers; LeNet-5 has 2 convs "
                                       f"(6 and 16 channels, 5x5) and 3 Linear layers (400 -> 120 -> 84 -> K).")
    names = ("first", "second")
    for i, (c, r) in enumerate(zip(convs, ref_convs)):
        if (c.in_channels, c.out_channels) != (r.in_channels, r.out_channels):
            return report(exercise, False, f"the {names[i]} conv maps {c.in_channels} -> {c.out_channels} channels, LeNet-5's "
                                           f"maps {r.in_channels} -> {r.out_channels}. Hint: 1 -> 6, then 6 -> 16.")
        if c.kernel_size != r.kernel_size or c.stride != r.stride:
            return report(exercise, False, f"the {names[i]} conv has kernel {c.kernel_size}, stride {c.stride}; LeNet-5 uses "
                                           f"5x5 kernels with stride 1 (the pooling layers halve the size).")
        if c.padding != r.padding:
            hint = ("the first conv needs padding=2: LeNet-5 was designed for 32x32 images, and 28 + 2*2 = 32, so "
                    "the map stays 28x28 (without it: 28 -> 24 -> 12 -> 8 -> 4, and 16*4*4 = 256 features)"
                    if i == 0 else "the second conv has no padding: it shrinks 14x14 to 10x10")
            return report(exercise, False, f"the {names[i]} conv has padding={c.padding[0]}, LeNet-5's has "
                                           f"{r.padding[0]}. Hint: {hint}.")
    flat = linears[0].in_features
    if flat != 16 * 5 * 5:
        hints = {16 * 4 * 4: "that is the size WITHOUT the first conv's padding; with padding=2 it is "
                             "28 -> 28 -> pool 14 -> conv 10 -> pool 5, so 16*5*5",
                 16 * 7 * 7: "the second conv (5x5, no padding) shrinks 14x14 to 10x10 before pooling: 16*5*5",
                 16 * 10 * 10: "the second max-pool halves 10x10 to 5x5 before flattening: 16*5*5",
                 6 * 14 * 14: "that is after the first stage; two conv-pool stages leave 16 channels of 5x5",
                 5 * 5: "multiply by the 16 channels: each of the 16 maps is 5x5",
                 16 * 6 * 6: "apply (n + 2p - k) // s + 1 layer by layer: 28 -> 28 -> 14 -> 10 -> 5"}
        hint = hints.get(flat, "follow the shape: 28 -> conv(5, pad 2) 28 -> pool 14 -> conv(5) 10 -> pool 5, 16 channels")
        return report(exercise, False, f"the first Linear layer takes {flat} features, but LeNet-5 flattens 16 x 5 x 5 = 400. "
                                       f"Hint: {hint}.")
    sizes = [(m.in_features, m.out_features) for m in linears]
    ref_sizes = [(m.in_features, m.out_features) for m in ref_linears]
    if sizes != ref_sizes:
        return report(exercise, False, f"Linear layers {sizes}, LeNet-5's are {ref_sizes}. Hint: 400 -> 120 -> 84 -> K.")
    n_params, n_ref = sum(p.numel() for p in model.parameters()), sum(p.numel() for p in ref.parameters())
    if n_params != n_ref:
        return report(exercise, False, f"{n_params:,} parameters, LeNet-5 has {n_ref:,} with the same conv and Linear "
                                       f"layers. Hint: leave out extra layers (BatchNorm, ...) and keep the biases.")
    with torch.no_grad():
        for mine, theirs in zip(convs + linears, ref_convs + ref_linears):
            mine.weight.copy_(theirs.weight)
            mine.bias.copy_(theirs.bias)
    model.eval()
    x = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(10))
    with torch.no_grad():
        expected = ref(x)
        out, err = _call(model, x)
    if err:
        hint = (" Hint: flatten the (B, 16, 5, 5) maps to (B, 400) before the first Linear (nn.Flatten() or x.flatten(1))."
                if "shape" in err or "size" in err else "")
        return report(exercise, False, err + hint)
    if not torch.is_tensor(out) or out.shape != expected.shape:
        got = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
        return report(exercise, False, f"output {got}, expected {tuple(expected.shape)} = (B, K) logits.")
    if _same(out, expected, tol=1e-4):
        return report(exercise, True, f"same layer sizes as course_utils.LeNet5 ({n_ref:,} parameters) and identical "
                                      f"logits with its weights.")
    with torch.no_grad():
        variants = {
            "ReLU after the last Linear layer: the logits must stay unbounded (no activation at the end)":
                _lenet_variant(ref, x, final_act=True),
            "tanh is the 1998 original; this course (like every modern version) uses ReLU":
                _lenet_variant(ref, x, act=torch.tanh),
            "average pooling instead of max pooling: use nn.MaxPool2d(2)":
                _lenet_variant(ref, x, pool=torch.nn.functional.avg_pool2d),
            "no activations: put a ReLU after each conv and after the first two Linear layers":
                _lenet_variant(ref, x, act=lambda t: t),
        }
    for hint, candidate in variants.items():
        if _same(out, candidate, tol=1e-4):
            return report(exercise, False, f"logits differ from LeNet-5 with the same weights. Hint: {hint}.")
    return report(exercise, False, "logits differ from LeNet-5 with the same weights. Hint: the order is conv-ReLU-pool twice, "
                                   "flatten, Linear-ReLU, Linear-ReLU, Linear.")


