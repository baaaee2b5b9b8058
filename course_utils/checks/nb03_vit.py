"""Checks of notebook 03_vit."""
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from .core import call, call_keeping_inputs, describe, first_tensor, guarded, report, same


def _randomize(module, generator):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)


def _copy_in_order(src, dst):
    """Copy src's parameters into dst's, in registration order; an error string when the two do not line up."""
    a, b = list(src.parameters()), list(dst.parameters())
    if len(a) != len(b) or any(p.shape != q.shape for p, q in zip(a, b)):
        return (f"{[tuple(p.shape) for p in b]} instead of {[tuple(p.shape) for p in a]}")
    with torch.no_grad():
        for p, q in zip(a, b):
            q.copy_(p)
    return None


def _build(obj, **kwargs):
    build = type(obj) if isinstance(obj, nn.Module) else obj
    return build(**kwargs)


def _block_variants(ref, x):
    """The reference block with one piece wrong, each with its hint (checked in this order)."""
    n1, n2, attn, mlp = ref.norm1, ref.norm2, ref.attn, ref.mlp

    def relu_mlp(t):
        return mlp.fc2(F.relu(mlp.fc1(t)))

    y = x + attn(n1(x))
    post = n1(x + attn(x))
    return {
        "norm1 is used for both sub-layers: the MLP branch must use norm2": y + mlp(n1(y)),
        "that is the Post-LN block (the norm after the residual add); this course uses Pre-LN, the norm in front of "
        "each sub-layer, inside the residual branch": n2(post + mlp(post)),
        "the residual connections are missing: each sub-layer's output is added to its input (x = x + ...)":
            mlp(n2(attn(n1(x)))),
        "the first residual connection is missing (x + attn(...))": (lambda a: a + mlp(n2(a)))(attn(n1(x))),
        "the second residual connection is missing": mlp(n2(y)),
        "the MLP branch reads the block's input, not the output of the attention step": y + mlp(n2(x)),
        "the two sub-layers are in the wrong order: attention first, then the MLP":
            (lambda a: a + attn(n1(a)))(x + mlp(n2(x))),
        "the MLP uses ReLU; the ViT's MLP is Linear -> GELU -> Linear (course_utils.vit.MLP)":
            y + relu_mlp(n2(y)),
        "the LayerNorms are missing: each sub-layer reads norm(x)": (lambda a: a + mlp(a))(x + attn(x)),
    }


@guarded
def check_transformer_block(block, exercise="transformer_block"):
    """A Pre-LN block (a module or its class) with parts norm1, attn, norm2, mlp, against course_utils.TransformerBlock.

    The expected output is computed by the course's block with the same weights, never by the student's own
    parts; the block is also built with other widths, head counts and mlp_ratios, run on a batch of one, and
    its gradients are compared.
    """
    from ..vit import TransformerBlock

    g = torch.Generator().manual_seed(5)
    blocks = [block] if isinstance(block, nn.Module) else []
    for D, h, r in [(16, 2, 2.0), (12, 3, 4.0), (8, 1, 1.5)]:
        built, err = call(_build, block, embed_dim=D, num_heads=h, mlp_ratio=r)
        if err:
            return report(exercise, False, f"building the block with embed_dim={D}, num_heads={h}, mlp_ratio={r}: {err}. "
                                           f"Hint: the constructor takes embed_dim, num_heads and mlp_ratio.")
        blocks.append((built, D, h, r))
    if blocks and isinstance(blocks[0], nn.Module):
        b = blocks[0]
        D = b.norm1.normalized_shape[0] if isinstance(getattr(b, "norm1", None), nn.LayerNorm) else None
        blocks[0] = (b, D, getattr(getattr(b, "attn", None), "num_heads", None), None)
    for b, D, h, r in blocks:
        if not isinstance(b, nn.Module):
            return report(exercise, False, f"expected an nn.Module, got {describe(b)}.")
        missing = [n for n in ("norm1", "attn", "norm2", "mlp") if not hasattr(b, n)]
        if missing:
            return report(exercise, False, f"the block has no {', '.join(missing)}. Hint: name the parts norm1, attn, "
                                           f"norm2, mlp (the ViT's weight loading looks for them).")
        if b.norm1 is b.norm2:
            return report(exercise, False, "one LayerNorm is shared by both sub-layers. Hint: give each sub-layer its own "
                                           "LayerNorm: their learned scale and shift differ.")
        if not isinstance(b.norm1, nn.LayerNorm) or not isinstance(b.norm2, nn.LayerNorm):
            return report(exercise, False, f"norm1 and norm2 should be nn.LayerNorm, got {type(b.norm1).__name__} and "
                                           f"{type(b.norm2).__name__} (a BatchNorm normalises across the batch).")
        if isinstance(b.attn, nn.MultiheadAttention):
            return report(exercise, False, "attn is an nn.MultiheadAttention: it takes (query, key, value) and returns "
                                           "(output, weights). Hint: use the course's MultiHeadSelfAttention, which "
                                           "takes x (B, N, D) and returns (B, N, D).")
        D = b.norm1.normalized_shape[0]
        h = h or getattr(b.attn, "num_heads", 1)
        hidden = [m for m in b.mlp.modules() if isinstance(m, nn.Linear)]
        r = r or (hidden[0].out_features / D if hidden else 2.0)
        ref = TransformerBlock(embed_dim=D, num_heads=h, mlp_ratio=r)
        _randomize(ref, g)           # make norm1 and norm2 different, so using one twice shows
        for part in ("norm1", "attn", "norm2", "mlp"):
            err = _copy_in_order(getattr(ref, part), getattr(b, part))
            if err:
                hint = {"mlp": f"the MLP is Linear(D, hidden) -> GELU -> Linear(hidden, D) with hidden = "
                               f"int(embed_dim * mlp_ratio) = {int(D * r)} for mlp_ratio={r:g}",
                        "attn": "attn is MultiHeadSelfAttention(embed_dim=..., num_heads=...)"}.get(part, "")
                return report(exercise, False, f"{part} (embed_dim={D}, num_heads={h}, mlp_ratio={r:g}) has parameters "
                                               f"{err}. Hint: {hint or 'nn.LayerNorm(embed_dim)'}.")
        ref.eval()
        b.eval()
        for shape in [(2, 6, D), (1, 3, D)]:
            x = torch.randn(*shape, generator=g).requires_grad_()
            where = f"(embed_dim={D}, num_heads={h}, mlp_ratio={r:g}, x {shape})"
            expected = ref(x)
            out, err = call_keeping_inputs(b, x)
            if err:
                if "leaf Variable" in err or "in-place" in err:
                    err += ". Hint: x += ... changes the caller's tensor in place; write x = x + ..."
                return report(exercise, False, f"{err} {where}.")
            out = first_tensor(out)
            if not torch.is_tensor(out) or out.shape != expected.shape:
                return report(exercise, False, f"output {describe(out)}, expected {tuple(expected.shape)} {where}.")
            if not same(out, expected, tol=1e-4):
                with torch.no_grad():
                    hint = next((k for k, c in _block_variants(ref, x).items() if same(out, c, tol=1e-4)),
                                "two residual lines, each through its own norm: x + attn(norm1(x)), then the same with "
                                "norm2 and mlp")
                return report(exercise, False, f"output differs from a Pre-LN block with the same weights {where}. "
                                               f"Hint: {hint}.")
            ref_g = torch.autograd.grad(expected.square().sum(), [x] + list(ref.parameters()))
            got_g = torch.autograd.grad(out.square().sum(), [x] + list(b.parameters()), allow_unused=True)
            if not all(a is not None and same(a, c, tol=1e-3) for a, c in zip(got_g, ref_g)):
                return report(exercise, False, f"the output is right but the gradients are not {where}. Hint: nothing "
                                               f"may be detached, and no in-place operation may overwrite what backward needs.")
    return report(exercise, True, f"Pre-LN wiring with two LayerNorms, equal to course_utils.TransformerBlock in "
                                  f"outputs and gradients, for {len(blocks)} sizes (1 to 3 heads, mlp_ratio 1.5 to 4) "
                                  f"and a batch of one.")


def _vit_variants(ref, x):
    """The reference ViT with one step wrong, each with its hint."""
    t = ref.to_patch_embedding(x)
    cls = ref.cls_token.expand(len(x), -1, -1)

    def run(z):
        for blk in ref.blocks:
            z = blk(z)
        return z

    right = run(torch.cat([cls, t], 1) + ref.pos_embed)
    return {
        "the head reads the mean of all tokens; the course's ViT reads the class token, x[:, 0]":
            ref.head(ref.norm(right).mean(1)),
        "the final LayerNorm is missing before the head": ref.head(right[:, 0]),
        "the position embedding is not added": ref.head(ref.norm(run(torch.cat([cls, t], 1)))[:, 0]),
        "the class token goes at the end; it is token 0, in front of the patches":
            ref.head(ref.norm(run(torch.cat([t, cls], 1) + ref.pos_embed))[:, -1]),
        "the head reads the class token before the blocks": ref.head(ref.norm(torch.cat([cls, t], 1) + ref.pos_embed)[:, 0]),
        "the head reads the first patch token; the class token is x[:, 0] only once it is in front":
            ref.head(ref.norm(right)[:, 1]),
    }


@guarded
def check_vit(model, cfg=None, exercise="vit"):
    """A student's ViT (a module or its class, built from a ViTConfig) against course_utils.VisionTransformer.

    Same weights (same parameter names), several configs (patch size, width, heads, depth, mlp_ratio, channels,
    image size, classes), batches of 3 and 1, and the gradients.
    """
    from ..vit import VisionTransformer, ViTConfig

    cfg = cfg or getattr(model, "cfg", None) or ViTConfig()
    configs = [cfg, replace(cfg, patch_size=4, embed_dim=32, depth=1, num_heads=2, num_classes=3),
               replace(cfg, image_size=12, patch_size=3, in_channels=3, embed_dim=24, depth=2, num_heads=3,
                       mlp_ratio=4.0, num_classes=5)]
    g = torch.Generator().manual_seed(8)
    for i, c in enumerate(configs):
        if i == 0 and isinstance(model, nn.Module):
            m = model
        else:
            m, err = call(_build, model, cfg=c) if not isinstance(model, nn.Module) else call(type(model), c)
            if err:
                return report(exercise, False, f"building the model from {c}: {err}.")
        if not isinstance(m, nn.Module):
            return report(exercise, False, f"expected an nn.Module, got {describe(m)}.")
        where = (f"(image_size={c.image_size}, patch_size={c.patch_size}, in_channels={c.in_channels}, embed_dim="
                 f"{c.embed_dim}, depth={c.depth}, num_heads={c.num_heads}, mlp_ratio={c.mlp_ratio:g}, "
                 f"num_classes={c.num_classes})")
        expected_pos = (1, c.num_patches + 1, c.embed_dim)
        pos = getattr(m, "pos_embed", None)
        if torch.is_tensor(pos) and tuple(pos.shape) != expected_pos:
            return report(exercise, False, f"pos_embed is {tuple(pos.shape)} but the model makes {c.num_patches} patches "
                                           f"+ 1 class token: it should be {expected_pos} {where}. Hint: size it from "
                                           f"the config, (image_size // patch_size) ** 2 + 1, never a number typed in.")
        for mod in m.modules():
            if isinstance(mod, nn.MultiheadAttention) and not mod.batch_first:
                return report(exercise, False, "nn.MultiheadAttention expects (N, B, D) unless batch_first=True: with "
                                               "(B, N, D) input it attends across the batch. Hint: batch_first=True.")
        torch.manual_seed(7)
        ref = VisionTransformer(c)
        with torch.no_grad():
            for p in ref.parameters():
                p.add_(torch.randn(p.shape, generator=g) * 0.05)   # no zero class token or positions to hide a bug
        ref.eval()
        try:
            m.load_state_dict(ref.state_dict())
        except RuntimeError as e:
            lines = [s.strip() for s in str(e).splitlines() if s.strip()]
            first = (lines[1] if len(lines) > 1 else lines[0])[:200]
            return report(exercise, False, f"cannot load the reference weights {where}: {first}. "
                                           f"Hint: use the course's names (to_patch_embedding, cls_token, pos_embed, "
                                           f"blocks, norm, head) and size every part from the config.")
        m.eval()
        for B in (3, 1):
            x = torch.randn(B, c.in_channels, c.image_size, c.image_size, generator=g)
            expected = ref(x)
            out, err = call_keeping_inputs(m, x)
            if err:
                return report(exercise, False, f"{err} (a batch of {B}, {where}).")
            out = first_tensor(out)
            if not torch.is_tensor(out) or out.shape != expected.shape:
                return report(exercise, False, f"logits {describe(out)}, expected {tuple(expected.shape)} = (B, K) "
                                               f"(a batch of {B}, {where}). Hint: the head reads one token per image.")
            if not same(out, expected, tol=1e-4):
                with torch.no_grad():
                    hint = next((k for k, v in _vit_variants(ref, x).items() if same(out, v, tol=1e-4)), None)
                    if hint is None and B > 1:
                        single = torch.cat([m(x[j:j + 1]) for j in range(B)])
                        if not same(single, out, tol=1e-4):
                            hint = "images influence each other's outputs: something mixes the batch axis"
                hint = hint or ("the order is: patch embedding, class token in front, add pos_embed, the blocks, "
                                "final norm, head on x[:, 0]")
                return report(exercise, False, f"logits differ from the reference ViT with the same weights (a batch of "
                                               f"{B}, {where}). Hint: {hint}.")
            ref_g = torch.autograd.grad(expected.sum(), [ref.pos_embed, ref.cls_token])
            got = [m.pos_embed, m.cls_token]
            got_g = torch.autograd.grad(out.sum(), got, allow_unused=True)
            if not all(a is not None and same(a, b, tol=1e-3) for a, b in zip(got_g, ref_g)):
                return report(exercise, False, f"the logits are right but the gradients of cls_token and pos_embed are "
                                               f"not {where}. Hint: add them to the tokens; do not detach or copy them.")
    return report(exercise, True, f"identical logits and gradients to course_utils.VisionTransformer for 3 configs "
                                  f"(patch 3 to {cfg.patch_size}, 1 to 3 channels, 3 to 10 classes) and a batch of one.")
