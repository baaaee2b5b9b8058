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

    def _ipython_display_(self):
        """Show nothing: the check already printed its one line. (A trailing `;` does not hide a value when
        nbval runs a cell, since it executes with store_history=False; this makes both runs show the same.)"""


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


class _NotDone(Exception):
    pass


def _call(fn, *args):
    """Run student code; return (output, None) or (None, 'ExceptionName: message').

    NotImplementedError (an exercise not done yet) is not swallowed: the check reports it and re-raises,
    so a notebook stops at the first unfinished exercise, as nbgrader's student editions do.
    """
    try:
        return fn(*args), None
    except NotImplementedError as e:
        raise _NotDone(e) from e
    except Exception as e:  # the check reports the error instead of stopping the notebook
        return None, f"your code raised {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def _reports_unfinished(check):
    """Decorator: an exercise that still raises NotImplementedError is reported as a FAIL, then re-raised."""
    import functools
    import inspect

    default_id = inspect.signature(check).parameters["exercise"].default

    @functools.wraps(check)
    def wrapper(*args, **kwargs):
        try:
            return check(*args, **kwargs)
        except _NotDone as e:
            report(kwargs.get("exercise", default_id), False,
                   "not implemented yet: replace `raise NotImplementedError` with your code.")
            raise e.__cause__ from None
    return wrapper


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


# ----------------------------------------------------------------------------------------- 02_attention
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


# ---------------------------------------------------------------------------------------------- 03_vit
def _randomize(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)


@_reports_unfinished
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
        out, err = _call(block, x)
        if err:
            return report(exercise, False, err)
        y = x + attn(block.norm1(x))
        expected = y + block.mlp(block.norm2(y))
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


@_reports_unfinished
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
    from .cnn import LeNet5

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


# ----------------------------------------------------------------------------------------- 05_training
def _lr_factor(step, total_steps, warmup_steps):
    """The course's schedule (train.warmup_cosine) as a plain function: linear warm-up, then cosine to 0."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _lr_variants(step, total, warmup):
    """Classic wrong schedules, each with its hint (checked in this order)."""
    progress = (step - warmup) / max(1, total - warmup)
    ramp = (step + 1) / warmup
    return {
        "step 0 gets a factor of 0, so the first update does nothing: ramp with (step + 1) / warmup_steps":
            step / warmup if step < warmup else _lr_factor(step, total, warmup),
        "there is no warm-up: the first step already uses the full learning rate. Ramp up linearly, "
        "(step + 1) / warmup_steps, while step < warmup_steps":
            0.5 * (1 + math.cos(math.pi * step / total)),
        "the cosine is counted from step 0, so the factor jumps down when the warm-up ends. Count it from the end "
        "of the warm-up: progress = (step - warmup_steps) / (total_steps - warmup_steps)":
            ramp if step < warmup else 0.5 * (1 + math.cos(math.pi * step / total)),
        "the factor goes negative: cos(pi * progress) runs from 1 to -1; rescale it to 1 -> 0 with 0.5 * (1 + cos(...))":
            ramp if step < warmup else math.cos(math.pi * progress),
        "the cosine rises again at the end: use half a period, cos(pi * progress), not cos(2 * pi * progress)":
            ramp if step < warmup else 0.5 * (1 + math.cos(2 * math.pi * progress)),
        "the cosine does not reach 0 at the last step: divide by the steps left after the warm-up, "
        "progress = (step - warmup_steps) / (total_steps - warmup_steps)":
            ramp if step < warmup else 0.5 * (1 + math.cos(math.pi * (step - warmup) / total)),
        "that is a linear decay after the warm-up; the course uses a cosine: 0.5 * (1 + cos(pi * progress))":
            ramp if step < warmup else 1 - progress,
    }


@_reports_unfinished
def check_warmup_cosine(fn, exercise="warmup_cosine"):
    """fn(step, total_steps, warmup_steps) -> lr factor: (step + 1) / warmup, then 0.5 * (1 + cos(pi * progress))."""
    for total, warmup in [(100, 10), (37, 5), (1000, 1)]:
        got = []
        for step in range(total):
            out, err = _call(fn, step, total, warmup)
            if err:
                return report(exercise, False, f"{err} (step={step}, total_steps={total}, warmup_steps={warmup}).")
            try:
                got.append(float(out))
            except (TypeError, ValueError):
                return report(exercise, False, f"returned {type(out).__name__} at step {step}; expected a number "
                                               f"(the factor that multiplies the peak learning rate).")
        expected = [_lr_factor(s, total, warmup) for s in range(total)]
        if all(abs(a - b) < 1e-6 for a, b in zip(got, expected)):
            continue
        where = next(s for s in range(total) if abs(got[s] - expected[s]) >= 1e-6)
        curves = {}
        for s in range(total):
            for h, value in _lr_variants(s, total, warmup).items():
                curves.setdefault(h, []).append(value)
        hint = next((h for h, curve in curves.items() if all(abs(a - b) < 1e-6 for a, b in zip(got, curve))), None)
        if hint is None:
            if max(got) > 1 + 1e-6:
                hint = "the factor goes above 1: it multiplies the peak learning rate, so it peaks at exactly 1"
            elif got[-1] > 0.05:
                hint = f"the last step's factor is {got[-1]:.3f}: the cosine should end near 0"
            else:
                hint = ("warm-up: (step + 1) / warmup_steps while step < warmup_steps; then with "
                        "progress = (step - warmup_steps) / (total_steps - warmup_steps): 0.5 * (1 + cos(pi * progress))")
        return report(exercise, False, f"step {where} of {total} (warm-up {warmup}): got {got[where]:.4f}, "
                                       f"expected {expected[where]:.4f}. Hint: {hint}.")
    return report(exercise, True, "linear warm-up to 1, then a half cosine down to 0: the same factors as "
                                  "course_utils.train.warmup_cosine.")


@_reports_unfinished
def check_digit_augmentation(fn, exercise="digit_augmentation"):
    """fn() -> a data.BatchAugment that suits handwritten digits: small rotations and shifts, never a flip."""
    from .data import BatchAugment

    aug, err = _call(fn)
    if err:
        return report(exercise, False, err)
    if not isinstance(aug, BatchAugment):
        return report(exercise, False, f"returned {type(aug).__name__}; expected a BatchAugment. Hint: "
                                       f"return BatchAugment(degrees=..., translate=..., scale=(..., ...)).")
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 6:8, 8:20] = 1.0                                    # a crude "7": a bar and a stroke down
    for r in range(8, 22):
        x[:, :, r, 19 - (r - 8) // 2] = 1.0
    out, err = _call(aug, x, torch.Generator().manual_seed(0))
    if err:
        return report(exercise, False, err)
    lo, hi = aug.scale
    if aug.hflip:
        return report(exercise, False, "hflip=True mirrors digits: a mirrored 2, 3, 4, 5, 7 or 9 is not a digit any more. "
                                       "Hint: use hflip=False for digits (a flip suits photos and clothes, not writing).")
    if aug.degrees == 0 and aug.translate == 0 and lo == hi == 1:
        return report(exercise, False, "this augmentation changes nothing. Hint: add small rotations (degrees) and "
                                       "shifts (translate), as handwriting varies.")
    if aug.degrees > 20:
        return report(exercise, False, f"rotations of up to {aug.degrees} degrees are too large: a tilted 1 looks like "
                                       f"a 7, and a 6 turned far enough is a 9. Hint: keep degrees <= 20 (10 is usual).")
    if aug.translate > 0.15:
        return report(exercise, False, f"shifts of up to {aug.translate:.0%} of the width are too large: MNIST digits "
                                       f"sit in a 20x20 box with a 4-pixel margin, so the strokes leave the frame. "
                                       f"Hint: keep translate <= 0.15 (0.1 is usual).")
    if lo < 0.8 or hi > 1.2 or lo > hi:
        return report(exercise, False, f"scale={aug.scale} zooms too far (or lo > hi). Hint: keep it within (0.8, 1.2), "
                                       f"e.g. (0.9, 1.1).")
    if not torch.is_tensor(out) or out.shape != x.shape:
        return report(exercise, False, "the augmentation did not return a batch of the input's shape.")
    return report(exercise, True, f"rotations up to {aug.degrees:g} degrees, shifts up to {aug.translate:.0%}, "
                                  f"zoom {lo:g}-{hi:g}, no flip: every augmented image is still the same digit.")


# ------------------------------------------------------------------------------------- 06_dataset_size
@_reports_unfinished
def check_epochs_for_budget(fn, exercise="epochs_for_budget"):
    """fn(steps, train_size, batch_size) -> the number of epochs that gives at least `steps` optimizer steps."""
    from .experiments import epochs_for_budget

    cases = [(1000, 600, 512), (3240, 55000, 512), (300, 100, 512), (500, 1800, 128), (400, 6000, 128), (7, 64, 16)]
    for steps, size, batch in cases:
        expected = epochs_for_budget(steps, size, batch)
        out, err = _call(fn, steps, size, batch)
        where = f"for steps={steps}, train_size={size}, batch_size={batch}"
        if err:
            hint = (" Hint: an epoch of fewer images than one batch is still one step: batch = min(batch_size, train_size), "
                    "and a partial last batch counts as a step (round up)." if "ZeroDivision" in err else "")
            return report(exercise, False, f"{err} ({where}).{hint}")
        if isinstance(out, float) and out.is_integer():
            out = int(out)
        if not isinstance(out, int) and not (torch.is_tensor(out) and out.numel() == 1 and not out.is_floating_point()):
            return report(exercise, False, f"returned {out!r} ({type(out).__name__}) {where}; fit needs a whole number "
                                           f"of epochs. Hint: round up with math.ceil.")
        out = int(out)
        if out == expected:
            continue
        per_epoch = math.ceil(size / min(batch, size))
        if out == math.ceil(steps * batch / size) or out == math.ceil(steps * min(batch, size) / size):
            hint = (f"count steps, not images: an epoch of {size} images at batch size {batch} is {per_epoch} step(s) "
                    f"(the last batch may be partial), so epochs = ceil(steps / steps_per_epoch)")
        elif out == steps // per_epoch:
            hint = (f"round up: {out} epochs give only {out * per_epoch} < {steps} steps. "
                    f"Use math.ceil(steps / steps_per_epoch)")
        elif out in (math.ceil(steps / max(1, size // batch)), steps // max(1, size // batch)):
            hint = (f"a partial last batch is a step too: steps_per_epoch = ceil(train_size / batch) = {per_epoch}, "
                    f"not train_size // batch = {size // batch}")
        else:
            hint = "steps_per_epoch = ceil(train_size / min(batch_size, train_size)); epochs = ceil(steps / steps_per_epoch)"
        return report(exercise, False, f"got {out} epochs {where}, expected {expected}. Hint: {hint}.")
    return report(exercise, True, "the right number of epochs for the step budget at every size, from 64 to 55,000 images.")


@_reports_unfinished
def check_mean_std(fn, exercise="mean_std"):
    """fn(records, model, train_size) -> (mean, std) of test_acc over that model's runs at that size (std: ddof=1)."""
    import statistics

    accs = {("vit", 600): [0.862, 0.871, 0.848], ("cnn", 600): [0.951, 0.957, 0.949, 0.960],
            ("vit", 6000): [0.970, 0.975]}
    records = [{"model": m, "train_size": s, "seed": i, "test_acc": a}
               for (m, s), values in accs.items() for i, a in enumerate(values)]
    for (model, size), values in accs.items():
        mean, std = statistics.mean(values), statistics.stdev(values)
        out, err = _call(fn, [dict(r) for r in records], model, size)
        if err:
            return report(exercise, False, err)
        try:
            got_mean, got_std = (float(v) for v in out)
        except (TypeError, ValueError):
            return report(exercise, False, f"returned {out!r}; expected a pair (mean, std). Hint: return mean, std.")
        where = f"for {model} at {size} images ({len(values)} runs)"
        if not math.isclose(got_mean, mean, abs_tol=1e-9):
            everything = statistics.mean(r["test_acc"] for r in records)
            hint = ("that is the mean over every record: keep only the runs of that model and size"
                    if math.isclose(got_mean, everything, abs_tol=1e-9) else
                    "average test_acc over the records whose model and train_size match")
            return report(exercise, False, f"mean {got_mean:.4f} {where}, expected {mean:.4f}. Hint: {hint}.")
        if not math.isclose(got_std, std, abs_tol=1e-9):
            hint = ("that is the population std (ddof=0, NumPy's default); over a few seeds use the sample std: "
                    "np.std(values, ddof=1) or statistics.stdev(values)"
                    if math.isclose(got_std, statistics.pstdev(values), abs_tol=1e-9) else
                    "the sample standard deviation: sqrt(sum((x - mean)^2) / (n - 1))")
            return report(exercise, False, f"std {got_std:.5f} {where}, expected {std:.5f}. Hint: {hint}.")
    return report(exercise, True, "mean and sample std (ddof=1) over the seeds of one model and size, as in the summary table.")
