"""Checks of notebook 01_patches."""

import torch

from ..patches import img_to_patch
from .core import call_keeping_inputs, describe, guarded, report, row_multiset, rows_sorted, same


def _img_to_patch_hwc(x, P):
    """The reference of the exercise: patches in reading order, each flattened as (P, P, C) (the ViT paper's)."""
    B, C, H, W = x.shape
    return x.reshape(B, C, H // P, P, W // P, P).permute(0, 2, 4, 3, 5, 1).reshape(B, (H // P) * (W // P), P * P * C)


def _patch_cases():
    """(x, P): digit-sized, a batch of one with 3 channels and H != W, 2 channels in float64, W > H."""
    g = torch.Generator().manual_seed(0)
    return [(torch.arange(2 * 1 * 28 * 28, dtype=torch.float32).reshape(2, 1, 28, 28), 7),
            (torch.randn(1, 3, 8, 12, generator=g), 4),
            (torch.randn(3, 2, 6, 4, generator=g, dtype=torch.float64), 2),
            (torch.arange(2 * 3 * 4 * 10, dtype=torch.float32).reshape(2, 3, 4, 10), 2)]


def _case(x, P):
    return f"input {tuple(x.shape)}, P={P}"


def _patch_check(fn, exercise, reference, other, other_hint, what):
    """Shared by both patch exercises: `reference` is what is asked for, `other` the other token layout."""
    for x, P in _patch_cases():
        expected = reference(x, P)
        out, err = call_keeping_inputs(fn, x.clone(), P)
        B, C, H, W = x.shape
        if err:
            if x.shape[1] != 1 or H != W:
                err += (". Hint: this input has " + (f"C = {C} channels" if C != 1 else f"H = {H} != W = {W}") +
                        ": read B, C, H, W from x.shape instead of assuming one channel or a square image")
            return report(exercise, False, f"{err} ({_case(x, P)}).")
        if not torch.is_tensor(out):
            return report(exercise, False, f"returned {describe(out)}, expected a tensor (B, N, {what}) ({_case(x, P)}).")
        if out.shape != expected.shape:
            hint = f"the result should be (B, N, {what}) with N = (H/P)*(W/P)"
            if out.ndim in (5, 6):
                hint = "each patch must become one flat token: the result has 3 axes, (B, N, ...)"
            elif out.ndim == 3 and out.shape[1:] == expected.shape[1:][::-1]:
                hint = "the last two axes are swapped: tokens go along dim 1, pixels along dim 2"
            elif C != 1 or H != W:
                hint = (f"this input has C = {C}, H = {H}, W = {W}: read them from x.shape; nothing may assume one "
                        f"channel, a square image or P = 7")
            return report(exercise, False, f"shape {tuple(out.shape)} for {_case(x, P)}, expected "
                                           f"{tuple(expected.shape)}. Hint: {hint}.")
        if out.dtype != x.dtype:
            return report(exercise, False, f"returned {out.dtype} for a {x.dtype} input. Hint: cutting patches only "
                                           f"moves numbers; keep the input's dtype (no .float(), no torch.tensor(...)).")
        if same(out, expected, tol=0):
            continue
        if same(out, other(x, P)):
            hint = other_hint
        elif same(out, x.reshape(expected.shape)):
            hint = ("a plain reshape/view cuts the image into strips of consecutive pixels, not square patches: "
                    "the patch-grid axes must be moved in front of the pixel axes first")
        elif same(row_multiset(out), row_multiset(expected)):
            hint = ("every token is right but they come out in the wrong order: the grid is read row by row, so "
                    "the patch-row axis H/P must come before the patch-column axis W/P")
        elif same(rows_sorted(out), rows_sorted(expected)):
            hint = f"each token holds the right pixels in the wrong order: inside a token the order is {what}"
        else:
            hint = "tokens mix pixels from different patches: check which axis is which after the reshape"
        return report(exercise, False, f"values differ from the reference ({_case(x, P)}). Hint: {hint}.")
    return report(exercise, True, f"matches the reference on 4 inputs: digits, a batch of one with 3 channels and "
                                  f"H != W, float64, W > H; tokens flattened as {what}.")


@guarded
def check_img_to_patch(fn, exercise="img_to_patch"):
    """fn(x (B, C, H, W), patch_size) -> (B, N, C*P*P), patches read row by row, each flattened as (C, P, P)."""
    return _patch_check(fn, exercise, img_to_patch, _img_to_patch_hwc,
                        "each token is flattened as (P, P, C), channels last; here the order is (C, P, P)", "C*P*P")


@guarded
def check_img_to_patch_hwc(fn, exercise="img_to_patch_hwc"):
    """fn(x (B, C, H, W), patch_size) -> (B, N, P*P*C): reading order, each patch flattened as (P, P, C)."""
    return _patch_check(fn, exercise, _img_to_patch_hwc, img_to_patch,
                        "that is the (C, P, P) order of img_to_patch (channel first); this exercise wants the "
                        "paper's (P, P, C): row inside the patch, column inside the patch, then channel", "(P, P, C)")


@guarded
def check_patch_embedding(fn, exercise="patch_embedding"):
    """fn(x (B, C, H, W), weight (D, C*P*P), bias (D,), patch_size) -> tokens (B, N, D): a Linear on patches."""
    g = torch.Generator().manual_seed(1)
    cases = [(2, 1, 28, 28, 7, 16, torch.float32), (1, 3, 8, 12, 4, 5, torch.float32),
             (3, 1, 4, 6, 2, 4, torch.float64),   # D = C*P*P: a square weight, so a missing transpose raises nothing
             (2, 2, 6, 6, 3, 1, torch.float32)]
    for B, C, H, W, P, D, dtype in cases:
        x = torch.randn(B, C, H, W, generator=g, dtype=dtype)
        weight = torch.randn(D, C * P * P, generator=g, dtype=dtype).requires_grad_()
        bias = torch.randn(D, generator=g, dtype=dtype).requires_grad_()
        where = f"(input {tuple(x.shape)}, P={P}, D={D})"
        tokens = img_to_patch(x, P)
        expected = tokens @ weight.T + bias
        out, err = call_keeping_inputs(fn, x.clone(), weight, bias, P)
        if err:
            hint = (" Hint: the weight is (D, C*P*P) like nn.Linear's, so it needs a transpose: (B, N, C*P*P) times "
                    "(C*P*P, D)." if "mat1 and mat2" in err or "cannot be multiplied" in err else
                    " Hint: cut with the patch_size argument; nothing may assume P = 7." if "divisible" in err else "")
            return report(exercise, False, f"{err} {where}.{hint}")
        if not torch.is_tensor(out) or out.shape != expected.shape:
            return report(exercise, False, f"got {describe(out)}, expected {tuple(expected.shape)} = (B, N, D) {where}. "
                                           f"Hint: one token per patch, each mapped to D numbers.")
        if out.dtype != dtype:
            return report(exercise, False, f"returned {out.dtype} for {dtype} inputs {where}. Hint: keep the inputs' "
                                           f"dtype: use the given weight and bias as they are.")
        if not same(out, expected, tol=1e-4):
            hints = [(tokens @ weight.T, "the bias is missing"),
                     (tokens @ weight + bias if D == C * P * P else None,
                      "the weight is (D, C*P*P), as nn.Linear stores it: it needs a transpose"),
                     (_img_to_patch_hwc(x, P) @ weight.T + bias if C > 1 else None,
                      "the tokens are flattened as (P, P, C); the weight expects img_to_patch's (C, P, P) order")]
            hint = next((h for ref, h in hints if ref is not None and same(out, ref, tol=1e-4)),
                        "every token should be mapped by the given weight and bias, the same for every patch")
            return report(exercise, False, f"values differ from the reference {where}. Hint: {hint}.")
        if not out.requires_grad:
            return report(exercise, False, f"the output carries no gradient {where}. Hint: do not detach, use "
                                           f"torch.no_grad() or go through NumPy: the weight must learn.")
        grads = torch.autograd.grad(out.sum(), (weight, bias), allow_unused=True)
        ref_grads = torch.autograd.grad(expected.sum(), (weight, bias))
        if not all(gr is not None and same(gr, r, tol=1e-4) for gr, r in zip(grads, ref_grads)):
            return report(exercise, False, f"the values are right but the gradients of weight and bias are not {where}. "
                                           f"Hint: compute with the given tensors, not copies of them.")
    return report(exercise, True, "equals a Linear layer applied to every flattened patch, with the right gradients, "
                                  "on 4 inputs (a batch of one, H != W, 1-3 channels, float64).")
