"""Checks of notebook 02_attention."""
import math

import torch
from torch import nn

from ..attention import scaled_dot_product_attention, split_heads
from .core import report, _call, _reports_unfinished, _same

@_reports_unfinished
def check_attention(fn, exercise="attention"):
    """fn(q, k, v) -> (values, weights) or values: scaled dot-product attention."""
    g = torch.Generator().manual_seed(2)
    for shape_q, shape_k, dv in [((2, 5, 16), (2, 7, 16), 8), ((2, 3, 4, 64), (2, 3, 4, 64), 64)]:
        q, k = torch.randn(*shape_q, generator=g) * 2, torch.randn(*shape_k, generator=g) * 2
        v = torch.randn(*shape_k[:-1], dv, generator=g)
        expected, expected_w = scaled_dot_product_attention(q, k, v)
        out, err = _call(fn, q.clone(), k.clone(), v.clone())
        if err:
            return report(exercise, False, err)
        weights = None
        if isinstance(out, (tuple, list)):
            out, weights = out[0], (out[1] if len(out) > 1 else None)
        if not torch.is_tensor(out) or out.shape != expected.shape:
            got = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
            return report(exercise, False, f"output {got}, expected {tuple(expected.shape)} for q {tuple(q.shape)}, "
                                           f"k {tuple(k.shape)}, v {tuple(v.shape)}. Hint: scores = q @ k.transpose(-2, -1) "
                                           f"is (..., N, M); weights @ v is (..., N, d_v).")
        if _same(out, expected, tol=1e-4):
            if weights is not None and not _same(weights, expected_w, tol=1e-4):
                return report(exercise, False, "the values are right but the returned weights are not softmax(q k^T / sqrt(d)).")
            continue
        scores = q @ k.transpose(-2, -1)
        d = q.shape[-1]
        if _same(out, scores.softmax(-1) @ v, tol=1e-4):
            hint = "the scores are not scaled: divide q @ k^T by sqrt(d) (d = q.shape[-1]) before the softmax"
        elif _same(out, (scores / d).softmax(-1) @ v, tol=1e-4):
            hint = "divide by sqrt(d), not by d"
        elif _same(out, (scores / math.sqrt(d)).softmax(-2) @ v, tol=1e-4):
            hint = ("the softmax runs over the wrong axis (the queries): use dim=-1, so each query's weights over "
                    "the keys sum to 1")
        elif _same(out, (q @ k.transpose(-2, -1) / math.sqrt(d)) @ v, tol=1e-4):
            hint = "there is no softmax: weights = softmax(scores, dim=-1)"
        else:
            hint = "compute softmax(q @ k.transpose(-2, -1) / sqrt(d), dim=-1) @ v"
        return report(exercise, False, f"values differ from the reference. Hint: {hint}.")
    return report(exercise, True, "equals softmax(q k^T / sqrt(d)) v on cross- and multi-head inputs.")


@_reports_unfinished
def check_split_heads(split_fn, merge_fn=None, exercise="split_merge_heads"):
    """split_fn(x (B, N, D), num_heads) -> (B, h, N, d); merge_fn((B, h, N, d)) -> (B, N, D)."""
    x = torch.randn(2, 5, 12, generator=torch.Generator().manual_seed(3))
    h = 3
    expected = split_heads(x, h)
    out, err = _call(split_fn, x.clone(), h)
    if err:
        return report(exercise, False, "split: " + err)
    if not torch.is_tensor(out) or out.shape != expected.shape:
        got = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
        return report(exercise, False, f"split gives {got}, expected {tuple(expected.shape)} = (B, h, N, d). "
                                       f"Hint: reshape to (B, N, h, d), then transpose(1, 2).")
    if not _same(out, expected):
        hint = ("reshaping (B, N, D) straight to (B, h, N, d) mixes tokens between heads: reshape to (B, N, h, d) "
                "first, then transpose(1, 2)") if _same(out, x.reshape(expected.shape)) else \
            "each head should get a contiguous slice of d channels of every token: reshape to (B, N, h, d), then transpose(1, 2)"
        return report(exercise, False, f"split values differ. Hint: {hint}.")
    if merge_fn is not None:
        merged, err = _call(merge_fn, expected.clone())
        if err:
            return report(exercise, False, "merge: " + err)
        if not _same(merged, x):
            hint = ("transpose(1, 2) back to (B, N, h, d) before reshaping to (B, N, D)"
                    if torch.is_tensor(merged) and merged.shape == x.shape else "the result should be (B, N, D)")
            return report(exercise, False, f"merge does not undo split. Hint: {hint}.")
    what = "split and merge are" if merge_fn is not None else "split is"
    return report(exercise, True, f"{what} right: each head sees its own d = D/h channels of every token.")


@_reports_unfinished
def check_multi_head_attention(module, exercise="multi_head_attention"):
    """A student's multi-head self-attention module (B, N, D) -> (B, N, D) against nn.MultiheadAttention.

    The module needs `to_qkv` (Linear D -> 3D, rows q, k, v) and `proj` (Linear D -> D), like the course's.
    """
    D = module.to_qkv.in_features if hasattr(module, "to_qkv") else None
    h = getattr(module, "num_heads", None)
    if D is None or h is None or not hasattr(module, "proj"):
        return report(exercise, False, "the module needs attributes to_qkv (Linear D -> 3D), proj (Linear D -> D) and num_heads.")
    torch.manual_seed(4)
    ref = nn.MultiheadAttention(D, h, batch_first=True)
    with torch.no_grad():
        module.to_qkv.weight.copy_(ref.in_proj_weight)
        module.to_qkv.bias.copy_(ref.in_proj_bias)
        module.proj.weight.copy_(ref.out_proj.weight)
        module.proj.bias.copy_(ref.out_proj.bias)
    x = torch.randn(3, 5, D)
    expected = ref(x, x, x, need_weights=False)[0]
    module.eval()
    out, err = _call(module, x)
    if err:
        return report(exercise, False, err)
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not _same(out, expected, tol=1e-4):
        return report(exercise, False, "output differs from nn.MultiheadAttention with the same weights. Hint: "
                                       "check split/merge of the heads and that `proj` is applied after merging.")
    return report(exercise, True, f"equals nn.MultiheadAttention(embed_dim={D}, num_heads={h}) with the same weights.")


