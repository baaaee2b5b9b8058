"""Checks of notebook 04_cnn_baselines."""
import math

import torch
import torch.nn.functional as F
from torch import nn

from .core import as_int, call, call_keeping_inputs, describe, guarded, report, same


@guarded
def check_lenet_flatten(value, exercise="lenet_flatten"):
    """The number of features LeNet-5 flattens before its first Linear layer on 28x28 digits (any integer type)."""
    if torch.is_tensor(value) and value.numel() != 1:
        return report(exercise, False, f"got a tensor of shape {tuple(value.shape)}; expected one number, the count "
                                       f"of features (e.g. x.flatten(1).shape[1], not x.flatten(1)).")
    n = as_int(value)
    if n is None and isinstance(value, float) and value.is_integer():
        n = int(value)
    if n is None:
        return report(exercise, False, f"expected a whole number, got {describe(value)}.")
    if n == 16 * 5 * 5:
        return report(exercise, True, "16 channels x 5 x 5 = 400 features reach the first Linear layer.")
    hints = {16 * 4 * 4: "that is the size without the first conv's padding of 2 (28 stays 28 with it)",
             16 * 7 * 7: "the second conv (5x5, no padding) shrinks 14x14 to 10x10 before pooling",
             16 * 10 * 10: "the second max-pool halves 10x10 before the flatten",
             6 * 14 * 14: "that is after the first stage; LeNet has two conv-pool stages",
             5 * 5: "each of the 16 channels is a 5x5 map: count them all"}
    hint = hints.get(n, "follow the side through every layer, then multiply by the channels")
    return report(exercise, False, f"{n} is not right. Hint: {hint}.")


def _torch_output_size(n, k, s, p, d, ceil_mode):
    """PyTorch as the oracle: the side of a conv (or a ceil-mode max-pool) output on an n x n input."""
    x = torch.zeros(1, 1, n, n)
    if ceil_mode:
        return F.max_pool2d(x, k, s, p, dilation=d, ceil_mode=True).shape[-1]
    return F.conv2d(x, torch.zeros(1, 1, k, k), stride=s, padding=p, dilation=d).shape[-1]


def _size_variants(n, k, s, p, d, ceil_mode):
    """Classic wrong answers (value, hint), checked in this order."""
    span = d * (k - 1) + 1
    a = n + 2 * p - span
    out = []
    if d > 1:
        out += [((n + 2 * p - k) // s + 1, "the dilation is ignored: a kernel of k taps with dilation d spans "
                                            "d*(k-1) + 1 input pixels"),
                ((n + 2 * p - d * k) // s + 1, "a dilated kernel spans d*(k-1) + 1 pixels, not d*k (the gaps lie "
                                               "between the taps, not after the last one)")]
    if ceil_mode:
        out += [(a // s + 1, "ceil_mode=True is ignored: it keeps a last, partial window, so round up"),
                (a // s + 2, "this rounding up is not a ceiling: a // b + 1 and round(a / b + 0.5) give one too many "
                             "when b divides a exactly (round() also rounds halves to even); use math.ceil(a / b) "
                             "or -(-a // b)"),
                (round(a / s + 0.5) + 1, "round(x + 0.5) is not a ceiling: round() rounds halves to the even number "
                                         "(use math.ceil)")]
    else:
        out += [(math.ceil(a / s) + 1, "this rounds up; without ceil_mode a layer drops a last window that does "
                                       "not fit: round down (//)"),
                (round(a / s) + 1, "round down, not to the nearest: a last window that does not fit is dropped")]
    out += [(a // s, "add 1: the first window already gives one output, each further stride one more"),
            ((n + p - span) // s + 1, "padding adds p pixels on BOTH sides: n + 2p"),
            ((n - span) // s + 1, "the padding is missing: the padded input is n + 2p wide"),
            (a + 1, "the stride is missing: windows start every s pixels, so divide by s")]
    return out


@guarded
def check_conv_output_size(fn, exercise="conv_output_size"):
    """fn(size, kernel_size, stride=1, padding=0, dilation=1, ceil_mode=False) -> output side (an int), as PyTorch."""
    cases = [(28, 5, 1, 2, 1, False), (14, 5, 1, 0, 1, False), (28, 2, 2, 0, 1, False), (10, 2, 2, 0, 1, False),
             (28, 3, 1, 1, 1, False), (28, 7, 7, 0, 1, False), (11, 3, 2, 1, 1, False), (30, 7, 7, 0, 1, False),
             (9, 2, 2, 0, 1, False), (28, 3, 1, 2, 2, False), (28, 3, 1, 0, 2, False), (15, 5, 2, 0, 3, False),
             (8, 3, 2, 0, 1, True), (10, 3, 3, 0, 1, True), (9, 3, 3, 0, 1, True), (11, 2, 3, 0, 1, True),
             (14, 3, 2, 1, 1, True), (13, 2, 2, 0, 2, True)]
    for n, k, s, p, d, ceil_mode in cases:
        expected = _torch_output_size(n, k, s, p, d, ceil_mode)
        args = f"size={n}, kernel_size={k}, stride={s}, padding={p}, dilation={d}, ceil_mode={ceil_mode}"
        out, err = call(fn, n, k, s, p, d, ceil_mode)
        if err:
            if "positional argument" in err:
                err += ". Hint: keep the signature conv_output_size(size, kernel_size, stride, padding, dilation, ceil_mode)"
            return report(exercise, False, f"{err} ({args}).")
        got = as_int(out)
        if got == expected:
            continue
        if got is None and isinstance(out, float) and out == expected:
            hint = "return an int: a layer has a whole number of outputs (// or math.floor / math.ceil give ints)"
        elif got is None and not isinstance(out, (int, float)):
            return report(exercise, False, f"returned {describe(out)} for {args}; expected an int ({expected}).")
        else:
            hint = next((h for v, h in _size_variants(n, k, s, p, d, ceil_mode) if out == v),
                        "count the windows: a kernel spans d*(k-1) + 1 pixels of the padded input n + 2p")
        return report(exercise, False, f"got {out!r} for {args}, PyTorch gives {expected}. Hint: {hint}.")
    return report(exercise, True, f"agrees with PyTorch's Conv2d and MaxPool2d on {len(cases)} layers: LeNet's, the "
                                  f"small CNN's and the ViT's, dilated kernels and ceil_mode pooling.")


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


def _padding(conv):
    """A conv's padding as an int per side ('same' with stride 1 and an odd kernel pads (k - 1) / 2)."""
    if conv.padding == "same":
        return tuple((k - 1) // 2 * d for k, d in zip(conv.kernel_size, conv.dilation))
    if conv.padding == "valid":
        return (0, 0)
    return tuple(conv.padding)


def _init_problem(model):
    """A hint if the fresh model's weights are not a random initialisation of the usual scale, else None."""
    for name, p in model.named_parameters():
        if p.ndim < 2:
            continue
        fan_in = p[0].numel()
        default = 1 / math.sqrt(3 * fan_in)          # std of PyTorch's default (Kaiming-uniform, a = sqrt(5)) init
        std = p.detach().float().std().item()
        if std < 1e-8:
            return (f"{name} starts {'at zero' if p.abs().max() == 0 else 'constant'}: every unit of a layer then "
                    f"computes the same thing and gets the same gradient, so they never become different. Keep "
                    f"PyTorch's random default initialisation")
        if not default / 5 < std < default * 5:
            return (f"{name} starts with std {std:.3g}, far from the usual {default:.3g} (1 / sqrt(3 fan_in)): "
                    f"keep PyTorch's default initialisation")
    return None


def _build_lenet(model, num_classes):
    """A new model from the student's class (or from the class of the module given, or a factory function)."""
    build = type(model) if isinstance(model, nn.Module) else model
    return build(num_classes=num_classes)


@guarded
def check_lenet(model, exercise="lenet"):
    """A student's LeNet-5 (a module, or its class) against course_utils.LeNet5.

    Compares the conv and Linear layer sizes in order (so any layout works: nn.Sequential or F.relu in forward;
    padding=2 or 'same'), builds it for 10 and for 3 classes, checks that a fresh model starts from a random
    initialisation, copies the reference weights in and compares the logits, on a batch of 4 and of 1.
    """
    from ..cnn import LeNet5

    candidates = [model] if isinstance(model, nn.Module) else []
    for k in (10, 3):
        built, err = call(_build_lenet, model, k)
        if err:
            return report(exercise, False, f"building the model with num_classes={k}: {err}. Hint: the constructor "
                                           f"takes num_classes.")
        candidates.append((built, k))
    if isinstance(candidates[0], nn.Module):
        candidates[0] = (candidates[0], None)
    for m, num_classes in candidates:
        if not isinstance(m, nn.Module):
            return report(exercise, False, f"expected an nn.Module, got {describe(m)}.")
        convs, linears = _lenet_layers(m)
        if len(convs) != 2 or len(linears) != 3:
            return report(exercise, False, f"found {len(convs)} Conv2d and {len(linears)} Linear layers; LeNet-5 has 2 "
                                           f"convs (6 and 16 channels, 5x5) and 3 Linear layers (400 -> 120 -> 84 -> K).")
        k = num_classes or linears[-1].out_features
        if num_classes is not None and linears[-1].out_features != num_classes:
            return report(exercise, False, f"built with num_classes={num_classes}, the last Linear layer has "
                                           f"{linears[-1].out_features} outputs. Hint: num_classes is ignored: use it "
                                           f"for the last layer instead of typing 10.")
        ref = LeNet5(num_classes=k).eval()
        ref_convs, ref_linears = _lenet_layers(ref)
        names = ("first", "second")
        for i, (c, r) in enumerate(zip(convs, ref_convs)):
            if (c.in_channels, c.out_channels) != (r.in_channels, r.out_channels):
                return report(exercise, False, f"the {names[i]} conv maps {c.in_channels} -> {c.out_channels} channels, "
                                               f"LeNet-5's maps {r.in_channels} -> {r.out_channels}.")
            if c.kernel_size != r.kernel_size or c.stride != r.stride or c.dilation != r.dilation:
                return report(exercise, False, f"the {names[i]} conv has kernel {c.kernel_size}, stride {c.stride}; "
                                               f"LeNet-5 uses 5x5 kernels with stride 1 (the pooling layers halve the size).")
            if _padding(c) != _padding(r):
                hint = ("LeNet-5 was designed for 32x32 images and 28 + 2*2 = 32: the first conv must keep 28x28"
                        if i == 0 else "the second conv has no padding: it shrinks 14x14 to 10x10")
                return report(exercise, False, f"the {names[i]} conv pads {_padding(c)[0]} pixels per side, LeNet-5's "
                                               f"pads {_padding(r)[0]}. Hint: {hint}.")
        flat = linears[0].in_features
        if flat != 16 * 5 * 5:
            return report(exercise, False, f"the first Linear layer takes {flat} features, but LeNet-5 flattens 16 "
                                           f"channels of 5x5 = 400. Hint: follow the side through each layer with your "
                                           f"conv_output_size.")
        sizes = [(l.in_features, l.out_features) for l in linears]
        ref_sizes = [(l.in_features, l.out_features) for l in ref_linears]
        if sizes != ref_sizes:
            return report(exercise, False, f"Linear layers {sizes}, LeNet-5's are {ref_sizes}.")
        n_params, n_ref = sum(p.numel() for p in m.parameters()), sum(p.numel() for p in ref.parameters())
        if n_params != n_ref:
            return report(exercise, False, f"{n_params:,} parameters, LeNet-5 has {n_ref:,} with the same conv and "
                                           f"Linear layers. Hint: leave out extra layers (BatchNorm, ...) and keep the biases.")
        if num_classes is not None:
            problem = _init_problem(m)
            if problem:
                return report(exercise, False, f"a freshly built model: {problem}.")
        with torch.no_grad():
            for mine, theirs in zip(convs + linears, ref_convs + ref_linears):
                mine.weight.copy_(theirs.weight)
                mine.bias.copy_(theirs.bias)
        m.eval()
        for B in (4, 1):
            x = torch.randn(B, 1, 28, 28, generator=torch.Generator().manual_seed(10 + B))
            with torch.no_grad():
                expected = ref(x)
                out, err = call_keeping_inputs(m, x)
            if err:
                hint = (" Hint: flatten the (B, 16, 5, 5) maps to (B, 400) before the first Linear, keeping the batch "
                        "axis (x.flatten(1), not x.flatten() or x.view(-1))." if "shape" in err or "size" in err else "")
                return report(exercise, False, f"{err} (a batch of {B}).{hint}")
            if not torch.is_tensor(out) or out.shape != expected.shape:
                hint = (" Hint: a batch of one lost its batch axis: flatten from dim 1 (x.flatten(1)), never squeeze."
                        if B == 1 else "")
                return report(exercise, False, f"output {describe(out)}, expected {tuple(expected.shape)} = (B, K) "
                                               f"logits (a batch of {B}).{hint}")
            if same(out, expected, tol=1e-4):
                continue
            with torch.no_grad():
                variants = {
                    "ReLU after the last Linear layer: the logits must stay unbounded (no activation at the end)":
                        _lenet_variant(ref, x, final_act=True),
                    "tanh is the 1998 original; this course (like every modern version) uses ReLU":
                        _lenet_variant(ref, x, act=torch.tanh),
                    "average pooling instead of max pooling: use nn.MaxPool2d(2)":
                        _lenet_variant(ref, x, pool=F.avg_pool2d),
                    "no activations: put a ReLU after each conv and after the first two Linear layers":
                        _lenet_variant(ref, x, act=lambda t: t),
                    "a softmax at the end: return logits (the cross-entropy applies the softmax itself)":
                        _lenet_variant(ref, x).softmax(-1),
                }
            hint = next((h for h, c in variants.items() if same(out, c, tol=1e-4)),
                        "the order is conv-ReLU-pool twice, flatten, Linear-ReLU, Linear-ReLU, Linear")
            return report(exercise, False, f"logits differ from LeNet-5 with the same weights. Hint: {hint}.")
    return report(exercise, True, "same layers as course_utils.LeNet5 (61,706 parameters for 10 classes), built for 10 "
                                  "and 3 classes from a random initialisation, identical logits with its weights.")
