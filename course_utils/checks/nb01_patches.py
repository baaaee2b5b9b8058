"""Checks of notebook 01_patches."""

import torch

from ..patches import img_to_patch
from .core import report, _call, _reports_unfinished, _same, _rows_sorted, _row_multiset

@_reports_unfinished
def check_img_to_patch(fn, exercise="img_to_patch"):
    """fn(x (B, C, H, W), patch_size) -> (B, N, C*P*P), patches read row by row."""
    cases = [(torch.arange(2 * 1 * 28 * 28, dtype=torch.float32).reshape(2, 1, 28, 28), 7),
             (torch.randn(3, 3, 8, 12, generator=torch.Generator().manual_seed(0)), 4)]
    for x, P in cases:
        expected = img_to_patch(x, P)
        out, err = _call(fn, x.clone(), P)
        if err:
            return report(exercise, False, err)
        if not torch.is_tensor(out):
            return report(exercise, False, f"expected a tensor, got {type(out).__name__}. Hint: return the patches.")
        B, C, H, W = x.shape
        if out.shape != expected.shape:
            hint = "the result should be (B, N, C*P*P): N = (H/P)*(W/P) tokens, each C*P*P long"
            if out.ndim == 5 or out.ndim == 6:
                hint = "flatten each patch into one token: .flatten(2) (or reshape to (B, N, C*P*P))"
            elif out.ndim == 3 and out.shape[1:] == expected.shape[1:][::-1]:
                hint = "the last two axes are swapped: tokens go along dim 1, pixels along dim 2"
            return report(exercise, False, f"shape {tuple(out.shape)} for input {tuple(x.shape)} with P={P}, "
                                           f"expected {tuple(expected.shape)}. Hint: {hint}.")
        if _same(out, expected):
            continue
        out = out.float()
        if _same(out, x.reshape(expected.shape)):
            hint = ("a plain reshape/view cuts the image into strips of pixel rows, not square patches. "
                    "Reshape to (B, C, H/P, P, W/P, P), permute to (B, H/P, W/P, C, P, P), then flatten")
        elif _same(_row_multiset(out), _row_multiset(expected)):
            hint = ("every patch is right but they come out in the wrong order: read the grid row by row, "
                    "so the permute must put the patch-row axis H/P before the patch-column axis W/P")
        elif _same(_rows_sorted(out), _rows_sorted(expected)):
            hint = ("each token holds the right pixels in the wrong order: permute to (B, H/P, W/P, C, P, P) "
                    "so each token is (C, P, P) flattened, like a Conv2d kernel")
        else:
            hint = ("tokens mix pixels from different patches: check the permute order "
                    "(B, C, H/P, P, W/P, P) -> (B, H/P, W/P, C, P, P)")
        return report(exercise, False, f"values differ from the reference (input {tuple(x.shape)}, P={P}). Hint: {hint}.")
    return report(exercise, True, "matches the reference on a 28x28 digit-sized batch and a 3-channel 8x12 batch.")


@_reports_unfinished
def check_patch_embedding(fn, exercise="patch_embedding"):
    """fn(x (B, C, H, W), weight (D, C*P*P), bias (D,), patch_size) -> tokens (B, N, D): a Linear on patches."""
    g = torch.Generator().manual_seed(1)
    for B, C, H, P, D in [(2, 1, 28, 7, 16), (3, 3, 8, 4, 5)]:
        x = torch.randn(B, C, H, H, generator=g)
        weight, bias = torch.randn(D, C * P * P, generator=g), torch.randn(D, generator=g)
        expected = img_to_patch(x, P) @ weight.T + bias
        out, err = _call(fn, x.clone(), weight.clone(), bias.clone(), P)
        if err:
            hint = " Hint: the weight is (D, C*P*P), so tokens @ weight.T is (B, N, D)." if "shape" in err or "size" in err else ""
            return report(exercise, False, err + hint)
        if not torch.is_tensor(out) or out.shape != expected.shape:
            got = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
            return report(exercise, False, f"got {got}, expected {tuple(expected.shape)}. Hint: cut into patches "
                                           f"(B, N, C*P*P), then project each to D: tokens @ weight.T + bias.")
        if not _same(out, expected, tol=1e-4):
            hint = "add the bias" if _same(out, expected - bias, tol=1e-4) else "use img_to_patch, then tokens @ weight.T + bias"
            return report(exercise, False, f"values differ from the reference. Hint: {hint}.")
    return report(exercise, True, "equals a Linear layer applied to every flattened patch.")


