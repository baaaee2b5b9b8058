"""Self-checks for the exercises. Each compares a student's code with the reference on fixed and
random inputs and prints ONE line: a pass, or what differs with a hint. It also returns a CheckResult
(exercise id, points, passed, message) and, when $COURSE_CHECK_LOG names a file, appends that result to
it as one JSON line, so a grader can collect the results without reading the printed text.

The checks know the classic mistakes: a plain reshape or a wrong permute when cutting patches, a
missing 1/sqrt(d) scale, a softmax over the wrong axis, heads split without a transpose, one LayerNorm
shared by both sub-layers, a Post-LN block, a position embedding sized for another number of patches,
nn.MultiheadAttention without batch_first=True.
"""
import json
import math
import os
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .attention import merge_heads, scaled_dot_product_attention, split_heads
from .patches import img_to_patch


@dataclass
class CheckResult:
    exercise: str
    passed: bool
    message: str
    points: int = 1

    @property
    def score(self):
        return self.points if self.passed else 0

    def __bool__(self):
        return self.passed


def report(exercise, passed, message, points=1):
    """Print the one line a check shows, log it for grading, and return it as a CheckResult."""
    result = CheckResult(exercise, bool(passed), message, points)
    mark = "✅ PASS" if passed else "❌ FAIL"
    print(f"{mark} [{exercise}] {message}")
    log = os.environ.get("COURSE_CHECK_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({**asdict(result), "score": result.score}) + "\n")
    return result


def _call(fn, *args):
    """Run student code; return (output, None) or (None, 'ExceptionName: message')."""
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, "not implemented yet (replace the `raise NotImplementedError` with your code)"
    except Exception as e:  # the check reports the error instead of stopping the notebook
        return None, f"your code raised {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def _same(a, b, tol=1e-5):
    return torch.is_tensor(a) and a.shape == b.shape and torch.allclose(a.float(), b.float(), atol=tol, rtol=tol)


def _rows_sorted(t):
    """Sort each token's values: equal when tokens hold the same pixels in another order."""
    return t.sort(dim=-1).values


def _row_multiset(t):
    """Sort the tokens themselves (lexicographically): equal when the same patches come out in another order."""
    rows = t.reshape(-1, t.shape[-1])
    keys = sorted(range(len(rows)), key=lambda i: rows[i].tolist())
    return rows[keys]


# ------------------------------------------------------------------------------------------- 01_patches
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


# ----------------------------------------------------------------------------------------- 02_attention
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


# ---------------------------------------------------------------------------------------------- 03_vit
def _randomize(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)


def check_transformer_block(block, exercise="transformer_block"):
    """A Pre-LN block with attributes norm1, attn, norm2, mlp: x + attn(norm1(x)), then x + mlp(norm2(x))."""
    missing = [n for n in ("norm1", "attn", "norm2", "mlp") if not hasattr(block, n)]
    if missing:
        return report(exercise, False, f"the block has no {', '.join(missing)}. Hint: name the parts norm1, attn, norm2, mlp.")
    norms = [m for m in block.modules() if isinstance(m, nn.LayerNorm)]
    if block.norm1 is block.norm2 or len(norms) < 2:
        return report(exercise, False, "one LayerNorm is shared by both sub-layers. Hint: give each sub-layer its own "
                                       "(self.norm1 = nn.LayerNorm(D); self.norm2 = nn.LayerNorm(D)): they learn different scales.")
    _randomize(block, 5)  # make norm1 and norm2 different, so using one twice shows
    block.eval()
    D = block.norm1.normalized_shape[0]
    x = torch.randn(2, 6, D, generator=torch.Generator().manual_seed(6))

    def attn(t):
        a = block.attn(t)
        return a[0] if isinstance(a, (tuple, list)) else a

    with torch.no_grad():
        y = x + attn(block.norm1(x))
        expected = y + block.mlp(block.norm2(y))
        out, err = _call(block, x)
        if err:
            return report(exercise, False, err)
        if isinstance(out, (tuple, list)):
            out = out[0]
        if _same(out, expected, tol=1e-4):
            return report(exercise, True, "Pre-LN wiring with two LayerNorms: x + attn(norm1(x)), then x + mlp(norm2(x)).")
        y1 = x + attn(block.norm1(x))
        post_a = block.norm1(x + attn(x))
        candidates = {
            "norm1 is used for both sub-layers: the MLP branch must use norm2": y1 + block.mlp(block.norm1(y1)),
            "that is the Post-LN block (norm after the residual add); this course uses Pre-LN: x = x + attn(norm1(x))":
                block.norm2(post_a + block.mlp(post_a)),
            "a residual connection is missing: each sub-layer's output is added to its input (x = x + ...)":
                attn(block.norm1(x)) + block.mlp(block.norm2(attn(block.norm1(x)))),
            "the MLP branch reads the block's input, not the output of the attention step":
                y1 + block.mlp(block.norm2(x)),
        }
        for hint, candidate in candidates.items():
            if _same(out, candidate, tol=1e-4):
                return report(exercise, False, f"output differs from a Pre-LN block. Hint: {hint}.")
    return report(exercise, False, "output differs from x + attn(norm1(x)) then x + mlp(norm2(x)). Hint: two residual lines, each with its own norm.")


def check_vit(model, cfg=None, exercise="vit"):
    """A student's ViT against course_utils.VisionTransformer with the same weights (same parameter names)."""
    from .vit import ViTConfig, VisionTransformer

    cfg = cfg or getattr(model, "cfg", None) or ViTConfig()
    torch.manual_seed(7)
    ref = VisionTransformer(cfg).eval()
    expected_pos = (1, cfg.num_patches + 1, cfg.embed_dim)
    pos = getattr(model, "pos_embed", None)
    if pos is not None and tuple(pos.shape) != expected_pos:
        return report(exercise, False, f"pos_embed is {tuple(pos.shape)} but the model makes {cfg.num_patches} patches "
                                       f"+ 1 class token: it should be {expected_pos}. Hint: size it from "
                                       f"(image_size // patch_size) ** 2 + 1, not a number typed in.")
    for m in model.modules():
        if isinstance(m, nn.MultiheadAttention) and not m.batch_first:
            return report(exercise, False, "nn.MultiheadAttention expects (N, B, D) unless batch_first=True: with (B, N, D) "
                                           "input it attends across the batch. Hint: nn.MultiheadAttention(D, h, batch_first=True).")
    try:
        model.load_state_dict(ref.state_dict())
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        return report(exercise, False, f"cannot load the reference weights ({first[:160]}). Hint: use the course's names "
                                       f"(to_patch_embedding, cls_token, pos_embed, blocks, norm, head) and sizes.")
    model.eval()
    x = torch.randn(3, cfg.in_channels, cfg.image_size, cfg.image_size, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        expected = ref(x)
        out, err = _call(model, x)
    if err:
        return report(exercise, False, err)
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not torch.is_tensor(out) or out.shape != expected.shape:
        got = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
        return report(exercise, False, f"logits {got}, expected {tuple(expected.shape)} = (B, K). Hint: the head reads "
                                       f"the class token only: x[:, 0].")
    if not _same(out, expected, tol=1e-4):
        with torch.no_grad():
            single = torch.cat([model(x[i:i + 1]) for i in range(len(x))])
        hint = ("images influence each other's outputs: attention is mixing the batch axis (batch_first?)"
                if not _same(single, out, tol=1e-4) else
                "check the order: patch embedding, prepend cls token, add pos_embed, blocks, final norm, head on x[:, 0]")
        return report(exercise, False, f"logits differ from the reference ViT with the same weights. Hint: {hint}.")
    return report(exercise, True, f"identical logits to course_utils.VisionTransformer ({sum(p.numel() for p in model.parameters()):,} parameters).")


# ------------------------------------------------------------------------------------ 04_cnn_baselines
def check_lenet_flatten(value, exercise="lenet_flatten"):
    """The number of features LeNet-5 flattens before its first Linear layer on 28x28 digits."""
    if value == 16 * 5 * 5:
        return report(exercise, True, "16 channels x 5 x 5 = 400 features reach the first Linear layer.")
    hints = {16 * 4 * 4: "with padding=2 the first conv keeps 28x28, so the second conv sees 14x14 -> 10x10 -> pooled 5x5",
             16 * 7 * 7: "the second conv (5x5, no padding) shrinks 14x14 to 10x10 before pooling",
             6 * 14 * 14: "that is after the first stage; LeNet has two conv-pool stages"}
    return report(exercise, False, f"{value} is not right. Hint: {hints.get(value, 'follow the shape: 28 -> conv(pad 2) 28 -> pool 14 -> conv 10 -> pool 5, 16 channels')}.")
