"""Checks of notebook 03_vit."""

import torch
from torch import nn

from .core import report, _call, _reports_unfinished, _same

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
    from ..vit import ViTConfig, VisionTransformer

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


