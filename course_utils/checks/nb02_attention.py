"""Checks of notebook 02_attention."""
import math

import torch
from torch import nn

from ..attention import scaled_dot_product_attention, split_heads
from .core import call_keeping_inputs, describe, first_tensor, guarded, report, same


def _attention_variants(q, k, v):
    """Classic wrong attentions, each with its hint (checked in this order)."""
    d, scores = q.shape[-1], q @ k.transpose(-2, -1)
    out = {
        "the scores are not scaled: without 1/sqrt(d) their spread grows with the head width and the softmax saturates":
            scores.softmax(-1) @ v,
        "the scores are divided by d; the right scale is 1/sqrt(d)": (scores / d).softmax(-1) @ v,
        "the softmax runs over the queries (dim=-2); each query's weights over the keys must sum to 1":
            (scores / math.sqrt(d)).softmax(-2) @ v,
        "there is no softmax: the weights must be positive and sum to 1 over the keys": (scores / math.sqrt(d)) @ v,
    }
    if v.shape[-1] != d:
        out["the scale uses the width of v; d is the width of the queries and keys"] = \
            (scores / math.sqrt(v.shape[-1])).softmax(-1) @ v
    return out


@guarded
def check_attention(fn, exercise="attention"):
    """fn(q, k, v) -> (values, weights): scaled dot-product attention, on several shapes, with gradients."""
    g = torch.Generator().manual_seed(2)
    cases = [((2, 5, 16), (2, 7, 16), 8, torch.float32),          # cross-attention: N != M, d_v != d
             ((2, 3, 4, 64), (2, 3, 4, 64), 64, torch.float32),   # (B, h, N, d)
             ((1, 1, 3), (1, 6, 3), 2, torch.float64),            # a batch of one, one query, float64
             ((3, 2, 5, 4), (3, 2, 5, 4), 4, torch.float32)]
    for shape_q, shape_k, dv, dtype in cases:
        q = (torch.randn(*shape_q, generator=g, dtype=dtype) * 2).requires_grad_()
        k = (torch.randn(*shape_k, generator=g, dtype=dtype) * 2).requires_grad_()
        v = torch.randn(*shape_k[:-1], dv, generator=g, dtype=dtype).requires_grad_()
        where = f"(q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)})"
        expected, expected_w = scaled_dot_product_attention(q, k, v)
        out, err = call_keeping_inputs(fn, q, k, v)
        if err:
            shapes = any(w in err for w in ("size", "shape", "dimension"))
            hint = (" Hint: q @ k.transpose(-2, -1) compares every query with every key; transpose only the last two "
                    "axes, so the leading (batch, head) axes stay." if shapes else "")
            return report(exercise, False, f"{err} {where}.{hint}")
        if torch.is_tensor(out):
            return report(exercise, False, f"returned one tensor {where}; the exercise asks for the pair (values, weights). "
                                           f"Hint: return both, e.g. `return weights @ v, weights`.")
        if not isinstance(out, (tuple, list)) or len(out) != 2 or not all(torch.is_tensor(t) for t in out):
            return report(exercise, False, f"returned {describe(out)} {where}; expected (values, weights), two tensors.")
        values, weights = out
        if values.shape != expected.shape or weights.shape != expected_w.shape:
            if values.shape == expected_w.shape and weights.shape == expected.shape:
                return report(exercise, False, f"the pair is in the wrong order {where}: return (values, weights).")
            return report(exercise, False, f"values {tuple(values.shape)} and weights {tuple(weights.shape)} {where}; "
                                           f"expected {tuple(expected.shape)} = (..., N, d_v) and {tuple(expected_w.shape)} "
                                           f"= (..., N, M): one weight per query and key.")
        if values.dtype != dtype:
            return report(exercise, False, f"returned {values.dtype} for {dtype} inputs {where}. Hint: keep the inputs' "
                                           f"dtype (e.g. math.sqrt(d) is a Python float; torch.tensor(d) would be float32).")
        if not same(values, expected, tol=1e-4):
            hint = next((h for h, c in _attention_variants(q, k, v).items() if same(values, c, tol=1e-4)),
                        "the values should be softmax(q k^T / sqrt(d)) v, with the softmax over the keys")
            return report(exercise, False, f"values differ from the reference {where}. Hint: {hint}.")
        if not same(weights, expected_w, tol=1e-4):
            return report(exercise, False, f"the values are right but the returned weights are not the softmax of the "
                                           f"scaled scores {where}. Hint: return the weights you multiplied v with.")
        if not values.requires_grad:
            return report(exercise, False, f"the values carry no gradient {where}. Hint: no .detach(), no NumPy, no "
                                           f"torch.no_grad(): attention must be trained.")
        ref_g = torch.autograd.grad(expected.sum(), (q, k, v))
        got_g = torch.autograd.grad(values.sum(), (q, k, v), allow_unused=True)
        if not all(a is not None and same(a, b, tol=1e-4) for a, b in zip(got_g, ref_g)):
            return report(exercise, False, f"the values are right but their gradients are not {where}. Hint: compute "
                                           f"with the given tensors (no copies through .data or .detach()).")
    return report(exercise, True, "softmax(q k^T / sqrt(d)) v and its weights, with the right gradients, on 4 inputs: "
                                  "cross-attention, multi-head, a batch of one in float64, N = M.")


@guarded
def check_split_heads(split_fn, merge_fn=None, exercise="split_merge_heads"):
    """split_fn(x (B, N, D), num_heads) -> (B, h, N, d); merge_fn((B, h, N, d)) -> (B, N, D)."""
    g = torch.Generator().manual_seed(3)
    for B, N, D, h, dtype in [(2, 5, 12, 3, torch.float32), (1, 7, 8, 1, torch.float32), (3, 4, 16, 4, torch.float64),
                              (2, 6, 12, 6, torch.float32)]:
        x = torch.randn(B, N, D, generator=g, dtype=dtype)
        where = f"(x {tuple(x.shape)}, num_heads={h})"
        expected = split_heads(x, h)
        out, err = call_keeping_inputs(split_fn, x.clone(), h)
        if err:
            return report(exercise, False, f"split: {err} {where}.")
        if not torch.is_tensor(out) or out.shape != expected.shape:
            hint = ("the number of heads is an argument: d = D // num_heads" if torch.is_tensor(out) and out.ndim == 4
                    else "the result is (B, h, N, d), four axes")
            return report(exercise, False, f"split gives {describe(out)}, expected {tuple(expected.shape)} = (B, h, N, d) "
                                           f"{where}. Hint: {hint}.")
        if out.dtype != dtype:
            return report(exercise, False, f"split returned {out.dtype} for a {dtype} input {where}: keep the dtype.")
        if not same(out, expected, tol=0):
            hint = ("reshaping (B, N, D) straight to (B, h, N, d) hands whole tokens to one head: each head must get "
                    "d channels of EVERY token, so the head axis comes from D, and moves in front of N afterwards"
                    if same(out, x.reshape(expected.shape)) else
                    "head i should hold channels i*d to (i+1)*d - 1 of every token, in token order")
            return report(exercise, False, f"split values differ {where}. Hint: {hint}.")
        if merge_fn is None:
            continue
        for heads, layout in [(expected.contiguous(), "a contiguous (B, h, N, d) tensor, as attention returns"),
                              (expected, "the output of split (a transposed view)")]:
            merged, err = call_keeping_inputs(merge_fn, heads.clone(memory_format=torch.preserve_format))
            if err:
                hint = (" Hint: .view needs memory laid out in that order; after a transpose use .reshape "
                        "(or .contiguous() first)." if "view" in err or "contiguous" in err or "stride" in err else "")
                return report(exercise, False, f"merge, given {layout}: {err} {where}.{hint}")
            if not same(merged, x, tol=0):
                if torch.is_tensor(merged) and merged.shape == x.shape and same(merged, heads.reshape(x.shape)):
                    hint = "merging needs the heads axis moved back behind N before the reshape to (B, N, D)"
                elif torch.is_tensor(merged) and merged.shape == x.shape:
                    hint = "the result has the right shape but the channels are in another order"
                else:
                    hint = f"the result should be (B, N, D) = {tuple(x.shape)}, got {describe(merged)}"
                return report(exercise, False, f"merge does not undo split, given {layout} {where}. Hint: {hint}.")
    what = "split and merge are" if merge_fn is not None else "split is"
    return report(exercise, True, f"{what} right for 1, 3, 4 and 6 heads, a batch of one and float64, merge also on "
                                  f"contiguous input: each head sees its own d = D/h channels of every token.")


def _mhsa(x, mha, num_heads, *, scale=True, transpose=True, proj=True):
    """nn.MultiheadAttention's computation spelled out, with one piece changed (to name a student's mistake)."""
    B, N, D = x.shape
    d = D // num_heads
    q, k, v = (x @ mha.in_proj_weight.T + mha.in_proj_bias).chunk(3, dim=-1)
    if transpose:
        q, k, v = (t.reshape(B, N, num_heads, d).transpose(1, 2) for t in (q, k, v))
    else:
        q, k, v = (t.reshape(B, num_heads, N, d) for t in (q, k, v))
    w = (q @ k.transpose(-2, -1) / (math.sqrt(d) if scale else 1)).softmax(-1)
    out = (w @ v).transpose(1, 2).reshape(B, N, D) if transpose else (w @ v).reshape(B, N, D)
    return mha.out_proj(out) if proj else out


def _build(module, D, h):
    build = type(module) if isinstance(module, nn.Module) else module
    return build(embed_dim=D, num_heads=h)


@guarded
def check_multi_head_attention(module, exercise="multi_head_attention"):
    """A student's multi-head self-attention (a module, or its class) against nn.MultiheadAttention, same weights.

    The module needs `to_qkv` (Linear D -> 3D, rows q, k, v), `proj` (Linear D -> D) and `num_heads`, like the
    course's. A class is built with (embed_dim, num_heads) for several sizes; for a module, its own size is
    tried first, then modules of its class with other sizes.
    """
    sizes = [(32, 4), (12, 3), (8, 1), (24, 6)]
    modules = []
    if isinstance(module, nn.Module):
        modules.append(module)
        sizes = [s for s in sizes if s != (getattr(getattr(module, "to_qkv", None), "in_features", None),
                                          getattr(module, "num_heads", None))]
    for D, h in sizes:
        built, err = call_keeping_inputs(_build, module, D, h)
        if err:
            return report(exercise, False, f"building the module with embed_dim={D}, num_heads={h}: {err}.")
        got = (getattr(getattr(built, "to_qkv", None), "in_features", None), getattr(built, "num_heads", None))
        if got != (D, h):
            return report(exercise, False, f"built with embed_dim={D}, num_heads={h}, the module has embed_dim={got[0]}, "
                                           f"num_heads={got[1]}. Hint: use the constructor's arguments, not numbers typed in.")
        modules.append(built)
    g = torch.Generator().manual_seed(4)
    for m in modules:
        if not isinstance(m, nn.Module):
            return report(exercise, False, f"expected an nn.Module, got {describe(m)}.")
        if not all(hasattr(m, a) for a in ("to_qkv", "proj", "num_heads")):
            return report(exercise, False, "the module needs attributes to_qkv (Linear D -> 3D), proj (Linear D -> D) "
                                           "and num_heads.")
        D, h = m.to_qkv.in_features, m.num_heads
        if m.to_qkv.out_features != 3 * D or (m.proj.in_features, m.proj.out_features) != (D, D):
            return report(exercise, False, f"to_qkv is {m.to_qkv.in_features} -> {m.to_qkv.out_features} and proj "
                                           f"{m.proj.in_features} -> {m.proj.out_features}; expected D -> 3D and D -> D.")
        mha = nn.MultiheadAttention(D, h, batch_first=True)
        with torch.no_grad():
            for p in mha.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
            m.to_qkv.weight.copy_(mha.in_proj_weight)
            m.to_qkv.bias.copy_(mha.in_proj_bias)
            m.proj.weight.copy_(mha.out_proj.weight)
            m.proj.bias.copy_(mha.out_proj.bias)
        m.eval()
        for B, N in [(3, 5), (1, 9)]:
            x = torch.randn(B, N, D, generator=g).requires_grad_()
            where = f"(embed_dim={D}, num_heads={h}, x {tuple(x.shape)})"
            expected = mha(x, x, x, need_weights=False)[0]
            out, err = call_keeping_inputs(m, x)
            if err:
                return report(exercise, False, f"{err} {where}.")
            out = first_tensor(out)
            if not torch.is_tensor(out) or out.shape != expected.shape:
                return report(exercise, False, f"output {describe(out)}, expected {tuple(expected.shape)} = (B, N, D) {where}.")
            if not same(out, expected, tol=1e-4):
                with torch.no_grad():
                    variants = {
                        "the scores are not scaled by 1/sqrt(d), d = D / num_heads": _mhsa(x, mha, h, scale=False),
                        "the heads are split with a plain reshape to (B, h, N, d): split each token's channels, "
                        "then move the head axis in front": _mhsa(x, mha, h, transpose=False),
                        "proj is not applied after merging the heads": _mhsa(x, mha, h, proj=False),
                        "the input is not split into heads: this is one head of width D": _mhsa(x, mha, 1),
                    }
                hint = next((k for k, c in variants.items() if c is not None and same(out, c, tol=1e-4)),
                            "check the order: to_qkv, chunk into q, k, v, split heads, attend, merge heads, proj")
                return report(exercise, False, f"output differs from nn.MultiheadAttention with the same weights {where}. "
                                               f"Hint: {hint}.")
            ref_grad = torch.autograd.grad(expected.sum(), mha.in_proj_weight)[0]
            got_grad = torch.autograd.grad(out.sum(), m.to_qkv.weight, allow_unused=True)[0]
            if got_grad is None or not same(got_grad, ref_grad, tol=1e-3):
                return report(exercise, False, f"the output is right but the gradient of to_qkv is not {where}. Hint: "
                                               f"nothing may be detached between to_qkv and the output.")
    return report(exercise, True, f"equals nn.MultiheadAttention with the same weights, and its gradients, for "
                                  f"{len(modules)} sizes (1 to 6 heads) and a batch of one.")
