"""Every check passes the reference and fails each classic mistake with its own hint."""
import json
import math

import pytest
import torch
from torch import nn

from course_utils import checks
from course_utils.attention import MultiHeadSelfAttention, merge_heads, scaled_dot_product_attention, split_heads
from course_utils.patches import img_to_patch
from course_utils.vit import MLP, TransformerBlock, VisionTransformer, ViTConfig


def run(check, *args, **kwargs):
    result = check(*args, **kwargs)
    assert isinstance(result, checks.CheckResult)
    return result


# --- img_to_patch -------------------------------------------------------------------------------------
def plain_reshape(x, P):
    B, C, H, W = x.shape
    return x.reshape(B, (H // P) * (W // P), C * P * P)


def swapped_grid(x, P):  # W/P before H/P: patches come out column by column
    B, C, H, W = x.shape
    return x.reshape(B, C, H // P, P, W // P, P).permute(0, 4, 2, 1, 3, 5).flatten(1, 2).flatten(2)


def pixels_scrambled(x, P):  # (P, P, C) inside each token instead of (C, P, P)
    B, C, H, W = x.shape
    return x.reshape(B, C, H // P, P, W // P, P).permute(0, 2, 4, 3, 5, 1).flatten(1, 2).flatten(2)


def not_flattened(x, P):
    return img_to_patch(x, P, flatten=False)


@pytest.mark.parametrize("wrong,hint", [
    (plain_reshape, "plain reshape"), (swapped_grid, "wrong order"),
    (pixels_scrambled, "(P, P, C), channels last"), (not_flattened, "one flat token"),
])
def test_check_img_to_patch(capsys, wrong, hint):
    assert run(checks.check_img_to_patch, img_to_patch).passed
    result = run(checks.check_img_to_patch, wrong)
    assert not result.passed and hint in result.message
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("✅ PASS [img_to_patch]") and lines[1].startswith("❌ FAIL")


def test_check_reports_errors_and_stops_at_unfinished_exercises(capsys, tmp_path, monkeypatch):
    assert "raised IndexError" in run(checks.check_img_to_patch, lambda x, P: x[9]).message

    def unfinished(x, P):
        raise NotImplementedError("Exercise img_to_patch: write your code here")
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("COURSE_CHECK_LOG", str(log))
    with pytest.raises(NotImplementedError, match="Exercise img_to_patch"):  # the notebook stops here
        checks.check_img_to_patch(unfinished)
    assert "FAIL [img_to_patch] not implemented yet" in capsys.readouterr().out
    assert json.loads(log.read_text())["passed"] is False                   # and the grader sees a 0


def test_check_patch_embedding():
    assert run(checks.check_patch_embedding, lambda x, w, b, P: img_to_patch(x, P) @ w.T + b).passed
    assert "bias is missing" in run(checks.check_patch_embedding, lambda x, w, b, P: img_to_patch(x, P) @ w.T).message
    assert "needs a transpose" in run(checks.check_patch_embedding, lambda x, w, b, P: img_to_patch(x, P) @ w + b).message


# --- attention ----------------------------------------------------------------------------------------
def attention_variant(scale=True, dim=-1, by_d=False, softmax=True):
    def attention(q, k, v):
        d = q.shape[-1]
        scores = q @ k.transpose(-2, -1)
        if scale:
            scores = scores / (d if by_d else math.sqrt(d))
        w = scores.softmax(dim) if softmax else scores
        return w @ v, w
    return attention


@pytest.mark.parametrize("wrong,hint", [
    (attention_variant(scale=False), "not scaled"), (attention_variant(dim=-2), "over the queries"),
    (attention_variant(by_d=True), "divided by d"), (attention_variant(softmax=False), "no softmax"),
])
def test_check_attention(wrong, hint):
    assert run(checks.check_attention, scaled_dot_product_attention).passed
    bare = run(checks.check_attention, lambda q, k, v: scaled_dot_product_attention(q, k, v)[0])
    assert not bare.passed and "(values, weights)" in bare.message      # the exercise asks for the pair
    result = run(checks.check_attention, wrong)
    assert not result.passed and hint in result.message


def test_check_split_heads():
    assert run(checks.check_split_heads, split_heads, merge_heads).passed
    no_transpose = lambda x, h: x.reshape(x.shape[0], h, x.shape[1], x.shape[2] // h)
    assert "hands whole tokens to one head" in run(checks.check_split_heads, no_transpose).message
    bad_merge = lambda x: x.reshape(x.shape[0], x.shape[2], -1)
    assert "heads axis moved back" in run(checks.check_split_heads, split_heads, bad_merge).message


def test_check_multi_head_attention():
    assert run(checks.check_multi_head_attention, MultiHeadSelfAttention(embed_dim=16, num_heads=4)).passed

    class NoMerge(MultiHeadSelfAttention):  # heads merged with a plain reshape
        def forward(self, x):
            q, k, v = (split_heads(t, self.num_heads) for t in self.to_qkv(x).chunk(3, -1))
            out = scaled_dot_product_attention(q, k, v)[0]
            return self.proj(out.reshape(x.shape))
    assert not run(checks.check_multi_head_attention, NoMerge(embed_dim=16, num_heads=4)).passed


# --- transformer block and ViT ------------------------------------------------------------------------
class SharedNorm(TransformerBlock):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.norm2 = self.norm1


class NormUsedTwice(TransformerBlock):
    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm1(x))


class PostLN(TransformerBlock):
    def forward(self, x):
        x = self.norm1(x + self.attn(x))
        return self.norm2(x + self.mlp(x))


class NoResidual(TransformerBlock):
    def forward(self, x):
        x = self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


@pytest.mark.parametrize("wrong,hint", [
    (SharedNorm, "shared by both sub-layers"), (NormUsedTwice, "norm1 is used for both"),
    (PostLN, "Post-LN"), (NoResidual, "residual connection is missing"),
])
def test_check_transformer_block(wrong, hint):
    assert run(checks.check_transformer_block, TransformerBlock(embed_dim=16, num_heads=2)).passed
    result = run(checks.check_transformer_block, wrong(embed_dim=16, num_heads=2))
    assert not result.passed and hint in result.message


def test_check_vit():
    cfg = ViTConfig(depth=2, embed_dim=32, num_heads=2)
    assert run(checks.check_vit, VisionTransformer(cfg)).passed

    class WrongPositions(VisionTransformer):
        def __init__(self, cfg):
            super().__init__(cfg)
            self.pos_embed = nn.Parameter(torch.zeros(1, 50, cfg.embed_dim))  # sized for patch size 4
    assert "pos_embed is (1, 50, 32)" in run(checks.check_vit, WrongPositions(cfg)).message

    class TorchAttentionBlock(nn.Module):
        def __init__(self, D, h, batch_first):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
            self.attn = nn.MultiheadAttention(D, h, batch_first=batch_first)
            self.mlp = MLP(embed_dim=D, hidden_dim=2 * D)

    class ForgotBatchFirst(VisionTransformer):
        def __init__(self, cfg):
            super().__init__(cfg)
            self.blocks = nn.ModuleList(TorchAttentionBlock(cfg.embed_dim, cfg.num_heads, False) for _ in range(cfg.depth))
    assert "batch_first=True" in run(checks.check_vit, ForgotBatchFirst(cfg)).message

    class NoClassToken(VisionTransformer):
        def forward(self, x):
            x = self.embed(x)
            for b in self.blocks:
                x = b(x)
            return self.head(self.norm(x).mean(1))
    assert "differ from the reference" in run(checks.check_vit, NoClassToken(cfg)).message


def test_check_lenet_flatten():
    assert run(checks.check_lenet_flatten, 400).passed
    assert "10x10" in run(checks.check_lenet_flatten, 16 * 7 * 7).message


def test_results_are_logged_for_grading(tmp_path, monkeypatch):
    log = tmp_path / "checks.jsonl"
    monkeypatch.setenv("COURSE_CHECK_LOG", str(log))
    checks.check_img_to_patch(img_to_patch)
    checks.check_attention(attention_variant(scale=False))
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["exercise"], r["passed"], r["score"]) for r in rows] == [("img_to_patch", True, 1), ("attention", False, 0)]


def test_check_cell_shows_only_its_line_in_a_kernel():
    """A check cell's value adds nothing to the output (nbval ignores `;` since it runs without history)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from course_utils import checks\nfrom course_utils.patches import img_to_patch\n"
        "checks.check_img_to_patch(img_to_patch)")]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["stream"]
    assert outputs[0].text.startswith("✅ PASS [img_to_patch]")
