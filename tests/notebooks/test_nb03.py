"""Notebook 03_vit: its figure script, its exercises' checks, the pitfalls it shows, and its student edition."""
import base64
import importlib.util
import re
from pathlib import Path

import nbformat
import pytest
import torch
from torch import nn

from course_admin import edition
from course_utils import checks
from course_utils.attention import MultiHeadSelfAttention
from course_utils.patches import PatchEmbedding
from course_utils.vit import MLP, ViTConfig

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "03_vit.ipynb"
FIGURE = ROOT / "img" / "pre_ln_vs_post_ln.png"
SOLUTION = re.compile(r"( *)### BEGIN SOLUTION\n.*?### END SOLUTION\n?", re.S)
SMALL = ViTConfig(embed_dim=32, num_heads=2, depth=2)   # fast, same wiring


def cells():
    if not NOTEBOOK.exists():
        pytest.skip("notebook not written yet")
    return nbformat.read(NOTEBOOK, as_version=4).cells


# --- the Pre-LN / Post-LN figure ----------------------------------------------------------------------------
def load_figure_script():
    spec = importlib.util.spec_from_file_location("make_pre_ln_vs_post_ln", ROOT / "img" / "make_pre_ln_vs_post_ln.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_figure_script_reproduces_the_committed_png(tmp_path):
    out = load_figure_script().main(tmp_path / "figure.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size < 80_000                  # small: the notebook embeds it
    # Same matplotlib and fonts give the same bytes; elsewhere only the size is compared.
    if out.read_bytes() != FIGURE.read_bytes():
        from PIL import Image
        assert Image.open(out).size == Image.open(FIGURE).size


def test_notebook_embeds_the_current_figure():
    embedded = [c for c in cells() if c.cell_type == "markdown" and "data:image/png;base64," in c.source]
    assert len(embedded) == 1, "the figure is embedded once (Colab shows neither relative paths nor attachments)"
    data = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", embedded[0].source).group(1)
    assert base64.b64decode(data) == FIGURE.read_bytes(), "img/pre_ln_vs_post_ln.png changed: rebuild the notebook cell"


# --- the exercises ----------------------------------------------------------------------------------------
def exercise_cells():
    cells()                                   # skips when the notebook is missing
    nb = nbformat.read(NOTEBOOK, as_version=4)
    return [(ex.id, nb.cells[ex.cell].source, ex.check_source) for ex in edition.exercises(nb, NOTEBOOK.stem)]


def test_exercises_are_marked_and_followed_by_their_check():
    found = exercise_cells()
    assert [e for e, _, _ in found] == ["transformer_block", "vit"]
    for exercise_id, source, check in found:
        for match in SOLUTION.finditer(source):
            assert len(match.group(1)) >= 8, f"{exercise_id}: the solution must sit inside a method body"
        lines = check.splitlines()
        # assigned, not `...;`: nbval runs cells with store_history=False, and IPython then ignores the ";"
        assert lines[0] == "# NBVAL_CHECK_OUTPUT" and lines[1].startswith(f"result = checks.check_{exercise_id}(")


def namespace_after(exercises, student=False):
    """Run the exercise cells (solutions, or the student edition's stubs) in a fresh namespace."""
    ns = {"torch": torch, "nn": nn, "MLP": MLP, "MultiHeadSelfAttention": MultiHeadSelfAttention,
          "PatchEmbedding": PatchEmbedding}
    for _, source, _ in exercises:
        if student:
            source = SOLUTION.sub(lambda m: f"{m.group(1)}raise NotImplementedError()\n", source)
        exec(source, ns)
    return ns


def test_solutions_pass():
    ns = namespace_after(exercise_cells())
    assert checks.check_transformer_block(ns["MyTransformerBlock"](embed_dim=32, num_heads=2)).passed
    assert checks.check_vit(ns["MyVisionTransformer"](SMALL)).passed


def test_student_edition_stops_with_not_implemented(capsys):
    ns = namespace_after(exercise_cells(), student=True)
    # the block's __init__ is part of the exercise, so the stub raises when the check cell builds the block
    with pytest.raises(NotImplementedError):
        ns["MyTransformerBlock"](embed_dim=32, num_heads=2)
    # the ViT's __init__ is given (it builds the student's blocks, so give it working ones): the check says FAIL
    ns["MyTransformerBlock"] = namespace_after(exercise_cells()[:1])["MyTransformerBlock"]
    with pytest.raises(NotImplementedError):
        checks.check_vit(ns["MyVisionTransformer"](SMALL))
    assert "FAIL [vit] not implemented yet" in capsys.readouterr().out


# --- the pitfalls the notebook demonstrates ---------------------------------------------------------------
def test_pitfalls_are_caught(capsys):
    ns = namespace_after(exercise_cells())
    Block, ViT = ns["MyTransformerBlock"], ns["MyVisionTransformer"]

    class SharedNorm(Block):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.norm2 = self.norm1

    assert "shared by both sub-layers" in checks.check_transformer_block(SharedNorm(embed_dim=32, num_heads=2)).message

    class TorchBlock(nn.Module):
        def __init__(self, D, h):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
            self.attn = nn.MultiheadAttention(D, h)              # batch_first forgotten
            self.mlp = MLP(embed_dim=D, hidden_dim=2 * D)

        def forward(self, x):
            y = self.norm1(x)
            x = x + self.attn(y, y, y, need_weights=False)[0]
            return x + self.mlp(self.norm2(x))

    class TorchViT(ViT):
        def __init__(self, cfg):
            super().__init__(cfg)
            self.blocks = nn.ModuleList(TorchBlock(cfg.embed_dim, cfg.num_heads) for _ in range(cfg.depth))

    net = TorchViT(SMALL).eval()
    with torch.no_grad():
        logits = net(torch.randn(4, 1, 28, 28))
    assert torch.allclose(logits, logits[:1], atol=1e-5)   # the symptom shown in the notebook: the same for all
    assert "batch_first=True" in checks.check_vit(TorchViT(SMALL)).message

    class TypedIn(ViT):
        def __init__(self, cfg, rows):
            super().__init__(cfg)
            self.pos_embed = nn.Parameter(torch.zeros(1, rows, cfg.embed_dim))

    for rows in (50, 1):
        assert f"pos_embed is (1, {rows}, 32)" in checks.check_vit(TypedIn(SMALL, rows)).message
    capsys.readouterr()


# --- the executed notebook --------------------------------------------------------------------------------
def test_committed_notebook_is_executed_in_order_without_errors_or_paths():
    code = [c for c in cells() if c.cell_type == "code"]
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), "execute the notebook top to bottom in a fresh kernel"
    for c in code:
        for out in c.outputs:
            assert out.output_type != "error", c.source[:80]
            text = out.get("text", "") + str(out.get("data", {}).get("text/plain", "")) + \
                str(out.get("data", {}).get("text/markdown", ""))
            assert not re.search(r"/(work|root|tmp|home)/", text), f"machine path in the output of: {c.source[:80]}"
