"""Notebook 08's locality options: conv stem, shifted-patch tokenization (SPT), locality self-attention (LSA)."""
import math

import pytest
import torch

from course_utils.attention import LocalitySelfAttention, MultiHeadSelfAttention
from course_utils.flops import count_macs
from course_utils.models import build_model, count_parameters
from course_utils.patches import PatchEmbedding
from course_utils.tokenizers import ConvStem, ShiftedPatchTokenizer, make_tokenizer, shift_image
from course_utils.vit import TransformerBlock, VisionTransformer, ViTConfig


@pytest.mark.parametrize("image_size,patch,channels", [(28, 7, 1), (28, 4, 1), (32, 8, 3), (32, 4, 3)])
@pytest.mark.parametrize("cls", [ConvStem, ShiftedPatchTokenizer])
def test_tokenizer_shapes(cls, image_size, patch, channels):
    tok = cls(image_size=image_size, patch_size=patch, in_channels=channels, embed_dim=48)
    for B in (1, 3):
        out = tok(torch.randn(B, channels, image_size, image_size))
        assert out.shape == (B, (image_size // patch) ** 2, 48)
        assert tok.num_patches == (image_size // patch) ** 2


def test_tokenizer_errors():
    with pytest.raises(ValueError, match="not divisible"):
        ConvStem(image_size=28, patch_size=5)
    with pytest.raises(ValueError, match="channel"):
        ShiftedPatchTokenizer(in_channels=1)(torch.randn(2, 3, 28, 28))
    with pytest.raises(ValueError, match="tokenizer must be one of"):
        ViTConfig(tokenizer="convstem")


def test_shift_image_moves_pixels_and_fills_zeros():
    x = torch.arange(1, 1 + 2 * 5 * 6, dtype=torch.float).reshape(1, 2, 5, 6)
    for dx, dy in [(2, 1), (-1, -2), (3, 0), (0, -1)]:
        out = shift_image(x, dx, dy)
        assert out.shape == x.shape
        expected = torch.zeros_like(x)
        H, W = 5, 6
        for i in range(H):
            for j in range(W):
                si, sj = i - dy, j - dx                  # the pixel that lands on (i, j)
                if 0 <= si < H and 0 <= sj < W:
                    expected[..., i, j] = x[..., si, sj]
        assert torch.equal(out, expected), (dx, dy)


def test_spt_shifted_copies_are_the_four_diagonals():
    spt = ShiftedPatchTokenizer(image_size=28, patch_size=7, in_channels=2, embed_dim=16)
    assert spt.shift == 3                                    # half a patch, rounded down
    x = torch.randn(2, 2, 28, 28)
    stacked = spt.shifted_images(x)                          # (B, 5C, H, W)
    assert stacked.shape == (2, 10, 28, 28)
    assert torch.equal(stacked[:, :2], x)                    # the image itself first
    s = 3
    # left-up: pixel (i, j) of the copy is pixel (i + s, j + s) of the image
    assert torch.equal(stacked[:, 2:4, :-s, :-s], x[:, :, s:, s:])
    assert torch.equal(stacked[:, 4:6, :-s, s:], x[:, :, s:, :-s])     # right-up
    assert torch.equal(stacked[:, 6:8, s:, :-s], x[:, :, :-s, s:])     # left-down
    assert torch.equal(stacked[:, 8:10, s:, s:], x[:, :, :-s, :-s])    # right-down
    assert (stacked[:, 2:4, -s:] == 0).all() and (stacked[:, 8:10, :s] == 0).all()   # zeros fill the gaps
    # the tokens are the patches of the stacked image, normalised then projected
    from course_utils.patches import img_to_patch
    tokens = spt.proj(spt.norm(img_to_patch(stacked, 7)))
    assert torch.allclose(spt(x), tokens)


def test_conv_stem_sees_across_patch_borders():
    stem = ConvStem(image_size=28, patch_size=7, embed_dim=8).eval()
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 7, 7] = 1.0                                      # first pixel of patch (1, 1)
    base = stem(torch.zeros_like(x))
    changed = (stem(x) - base).abs().sum(-1)[0].reshape(4, 4) > 0
    assert changed[0, 0] and changed[1, 1]                   # two 3x3 convs reach 2 pixels into patch (0, 0)
    pe = PatchEmbedding(image_size=28, patch_size=7, embed_dim=8)
    changed_pe = (pe(x) - pe(torch.zeros_like(x))).abs().sum(-1)[0].reshape(4, 4) > 0
    assert not changed_pe[0, 0] and changed_pe[1, 1]         # the plain patch embedding does not


# --------------------------------------------------------------------------- locality self-attention
def test_lsa_masks_the_diagonal_and_starts_at_the_usual_temperature():
    torch.manual_seed(0)
    for D, h, N in [(32, 4, 5), (24, 2, 1 + 16)]:
        lsa = LocalitySelfAttention(embed_dim=D, num_heads=h)
        assert math.isclose(lsa.log_scale.exp().item(), (D // h) ** -0.5, rel_tol=1e-6)
        x = torch.randn(3, N, D)
        out, w = lsa(x, return_attention=True)
        assert out.shape == (3, N, D) and w.shape == (3, h, N, N)
        assert torch.all(torch.diagonal(w, dim1=-2, dim2=-1) == 0)           # no token attends to itself
        assert torch.allclose(w.sum(-1), torch.ones(3, h, N), atol=1e-6)
        assert torch.allclose(lsa(x), out, atol=1e-5)                         # fused path = manual path


def test_lsa_temperature_is_learned_and_used():
    torch.manual_seed(1)
    lsa = LocalitySelfAttention(embed_dim=16, num_heads=2)
    x = torch.randn(2, 6, 16)
    lsa(x).square().sum().backward()
    assert lsa.log_scale.grad is not None and lsa.log_scale.grad.abs() > 0
    _, w = lsa(x, return_attention=True)
    with torch.no_grad():
        lsa.log_scale += 2.0                                  # a larger scale: sharper weights
    _, w_sharp = lsa(x, return_attention=True)
    assert w_sharp.max(-1).values.mean() > w.max(-1).values.mean()
    # by hand: softmax(q k^T * exp(log_scale)) with the diagonal masked
    q, k, v = (t.reshape(2, 6, 2, 8).transpose(1, 2) for t in lsa.to_qkv(x).chunk(3, -1))
    scores = (q @ k.transpose(-2, -1)) * lsa.log_scale.exp()
    scores = scores.masked_fill(torch.eye(6, dtype=torch.bool), float("-inf"))
    assert torch.allclose(w_sharp, scores.softmax(-1), atol=1e-6)


def test_lsa_without_its_mask_is_plain_attention():
    torch.manual_seed(2)
    mhsa = MultiHeadSelfAttention(embed_dim=32, num_heads=4)
    lsa = LocalitySelfAttention(embed_dim=32, num_heads=4, mask_diagonal=False)
    missing = lsa.load_state_dict(mhsa.state_dict(), strict=False).missing_keys
    assert missing == ["log_scale"]
    x = torch.randn(2, 9, 32)
    assert torch.allclose(lsa(x), mhsa(x), atol=1e-6)
    assert torch.allclose(lsa(x, return_attention=True)[1], mhsa(x, return_attention=True)[1], atol=1e-6)


# --------------------------------------------------------------------------- the ViT with the options
def test_default_vit_is_unchanged():
    """Off by default: the same modules, parameters and random draws as the plain ViT of notebook 03."""
    cfg = ViTConfig()
    assert (cfg.tokenizer, cfg.lsa) == ("patch", False)
    torch.manual_seed(0)
    vit = VisionTransformer(cfg)
    after = torch.rand(1)
    assert isinstance(vit.to_patch_embedding, PatchEmbedding)
    assert all(type(b.attn) is MultiHeadSelfAttention for b in vit.blocks)
    assert count_parameters(vit) == 540_170                          # as in notebook 03
    torch.manual_seed(0)                                      # the same draws as building the pieces by hand
    pe = PatchEmbedding(image_size=28, patch_size=7, in_channels=1, embed_dim=128)
    assert torch.equal(pe.proj.weight, vit.to_patch_embedding.proj.weight)
    torch.manual_seed(0)
    VisionTransformer(ViTConfig(tokenizer="patch", lsa=False))
    assert torch.equal(torch.rand(1), after)


@pytest.mark.parametrize("options", [dict(tokenizer="conv_stem"), dict(tokenizer="spt"), dict(lsa=True),
                                     dict(tokenizer="spt", lsa=True), dict(patch_size=4)])
def test_vit_variants_shapes_and_backward(options):
    torch.manual_seed(0)
    model = build_model("vit", embed_dim=32, depth=2, num_heads=2, **options)
    for B, C, size, K in [(2, 1, 28, 10), (1, 1, 28, 10)]:
        x = torch.randn(B, C, size, size)
        logits = model(x)
        assert logits.shape == (B, K)
    model(torch.randn(3, 1, 28, 28)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    logits, maps = model(torch.randn(2, 1, 28, 28), return_attention=True)
    n = model.cfg.num_patches + 1
    assert len(maps) == 2 and maps[0].shape == (2, 2, n, n)
    if options.get("lsa"):
        assert torch.all(torch.diagonal(maps[0], dim1=-2, dim2=-1) == 0)
    assert count_macs(model.eval(), (1, 1, 28, 28)) > 0


def test_vit_variants_on_colour_images():
    model = build_model("vit", image_size=32, in_channels=3, patch_size=8, tokenizer="conv_stem", embed_dim=32,
                        depth=1, num_heads=2)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_variants_share_the_rest_of_the_vit():
    """A variant changes only what it names: every other weight has the plain ViT's name and shape."""
    plain = VisionTransformer(ViTConfig()).state_dict()
    for options, extra in [(dict(tokenizer="conv_stem"), "to_patch_embedding."), (dict(tokenizer="spt"), "to_patch_embedding."),
                           (dict(lsa=True), "log_scale")]:
        other = VisionTransformer(ViTConfig(**options)).state_dict()
        rest = {k: v.shape for k, v in other.items() if not k.startswith(extra) and not k.endswith(extra)}
        assert rest == {k: v.shape for k, v in plain.items() if not k.startswith(extra)}, options


def test_conv_stem_costs_more_macs_than_the_patch_embedding():
    plain, stem = build_model("vit"), build_model("vit", tokenizer="conv_stem")
    extra = count_macs(stem, (1, 1, 28, 28)) - count_macs(plain, (1, 1, 28, 28))
    # two 3x3 convs at 28 x 28 (1 -> 32, 32 -> 32), the patch projection from 32 channels instead of 1
    expected = 28 * 28 * 32 * (9 * 1 + 9 * 32) + 16 * 128 * 49 * (32 - 1)
    assert extra == expected


def test_make_tokenizer_unknown():
    class Cfg:
        tokenizer, image_size, patch_size, in_channels, embed_dim = "x", 28, 7, 1, 8
    with pytest.raises(ValueError, match="Unknown tokenizer"):
        make_tokenizer(Cfg())


def test_block_accepts_lsa():
    block = TransformerBlock(embed_dim=16, num_heads=2, lsa=True)
    assert isinstance(block.attn, LocalitySelfAttention)
