"""Draw img/pre_ln_vs_post_ln.png: where the LayerNorms sit in a Post-LN and a Pre-LN transformer block.

    python img/make_pre_ln_vs_post_ln.py            # rewrites img/pre_ln_vs_post_ln.png

Post-LN is the original Transformer's block (Vaswani et al. 2017): normalise after each residual add,
so every path from input to output runs through a LayerNorm. Pre-LN (Xiong et al. 2020, "On Layer
Normalization in the Transformer Architecture"; used by ViT) normalises only the input of each
sub-layer, so the residual stream is a clean identity path from the block's input to its output.
Shown in notebook 03_vit.
"""
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch  # noqa: E402

OUT = Path(__file__).resolve().parent / "pre_ln_vs_post_ln.png"

COLORS = {"norm": "#ffe08a", "attn": "#f6b26b", "mlp": "#9fc5e8"}
STREAM_X, BRANCH_X = 0.27, 0.69   # x of the residual stream and of the sub-layer branch
BOX_W, BOX_H = 0.44, 0.07


def box(ax, x, y, text, kind, edge="black", lw=1.2, width=BOX_W):
    """A rounded box centred at (x, y)."""
    ax.add_patch(FancyBboxPatch((x - width / 2, y - BOX_H / 2), width, BOX_H, boxstyle="round,pad=0.01,rounding_size=0.02",
                                facecolor=COLORS[kind], edgecolor=edge, linewidth=lw, zorder=3))
    ax.text(x, y, text, ha="center", va="center", fontsize=10.5, zorder=4)


def plus(ax, y):
    """The residual add, a circled +, on the stream."""
    ax.add_patch(Circle((STREAM_X, y), 0.025, facecolor="white", edgecolor="black", linewidth=1.4, zorder=3))
    ax.text(STREAM_X, y - 0.002, "+", ha="center", va="center", fontsize=14, zorder=4)


def arrow(ax, points, color="black", lw=1.4):
    """A polyline through `points` with an arrow head at the end."""
    xs, ys = zip(*points)
    ax.plot(xs[:-1], ys[:-1], color=color, lw=lw, zorder=1, solid_capstyle="round")
    ax.plot(xs[-2:], ys[-2:], color=color, lw=lw, zorder=1, alpha=0)
    ax.add_patch(FancyArrowPatch(points[-2], points[-1], arrowstyle="-|>", mutation_scale=13, color=color, lw=lw,
                                 shrinkA=0, shrinkB=0, zorder=2))


def branch(ax, y_from, y_to, boxes):
    """A sub-layer branch: leave the stream at y_from, go through `boxes` [(y, text, kind)], rejoin at y_to."""
    arrow(ax, [(STREAM_X, y_from), (BRANCH_X, y_from), (BRANCH_X, boxes[0][0] + BOX_H / 2)])
    for (y, text, kind), nxt in zip(boxes, boxes[1:] + [None]):
        box(ax, BRANCH_X, y, text, kind)
        if nxt is not None:
            arrow(ax, [(BRANCH_X, y - BOX_H / 2), (BRANCH_X, nxt[0] + BOX_H / 2)])
    last = boxes[-1][0]
    arrow(ax, [(BRANCH_X, last - BOX_H / 2), (BRANCH_X, y_to), (STREAM_X + 0.025, y_to)])
    ax.plot([STREAM_X], [y_from], "o", color="black", ms=4, zorder=3)


def panel(ax, title, subtitle, pre_ln):
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.2, 1.04)
    out_y = 0.035 if pre_ln else 0.025
    ax.axis("off")
    ax.set_title(title, fontsize=13, fontweight="bold", pad=2)
    ax.text(0.5, 1.0, subtitle, ha="center", va="center", fontsize=9.5, color="0.35")
    ax.text(STREAM_X, 0.94, "input x  (B, N, D)", ha="center", va="center", fontsize=10)
    ax.text(STREAM_X, out_y, "output  (B, N, D)", ha="center", va="center", fontsize=10)
    if pre_ln:
        # The residual stream runs straight through: only the branches see a LayerNorm.
        stream = "#2e8b57"
        for y0, y1 in [(0.91, 0.565), (0.535, 0.105), (0.105, 0.065)]:
            arrow(ax, [(STREAM_X, y0), (STREAM_X, y1)], color=stream, lw=3)
        branch(ax, 0.86, 0.55, [(0.78, "LayerNorm  norm1", "norm"), (0.65, "attention  attn", "attn")])
        plus(ax, 0.55)
        branch(ax, 0.44, 0.12, [(0.36, "LayerNorm  norm2", "norm"), (0.23, "MLP  mlp", "mlp")])
        plus(ax, 0.12)
        ax.text(STREAM_X - 0.035, 0.33, "residual stream:\nidentity from\ninput to output", rotation=90,
                ha="right", va="center", fontsize=9, color=stream)
        code = "x = x + attn(norm1(x))\nx = x + mlp(norm2(x))"
        note = ("a clean identity path from input to output:\n"
                "gradients are well-behaved at initialisation,\n"
                "trains without learning-rate warm-up")
    else:
        # Post-LN: each residual add is followed by a LayerNorm sitting on the stream itself.
        stream = "black"
        arrow(ax, [(STREAM_X, 0.91), (STREAM_X, 0.625)], color=stream, lw=3)
        branch(ax, 0.86, 0.61, [(0.72, "attention  attn", "attn")])
        plus(ax, 0.61)
        arrow(ax, [(STREAM_X, 0.585), (STREAM_X, 0.545)], color=stream, lw=3)
        box(ax, STREAM_X, 0.51, "LayerNorm  norm1", "norm", edge="#c0392b", lw=2.4, width=0.38)
        arrow(ax, [(STREAM_X, 0.475), (STREAM_X, 0.215)], color=stream, lw=3)
        branch(ax, 0.42, 0.20, [(0.31, "MLP  mlp", "mlp")])
        plus(ax, 0.20)
        arrow(ax, [(STREAM_X, 0.175), (STREAM_X, 0.135)], color=stream, lw=3)
        box(ax, STREAM_X, 0.10, "LayerNorm  norm2", "norm", edge="#c0392b", lw=2.4, width=0.38)
        ax.text(STREAM_X + 0.21, 0.51, "on the residual path", ha="left", va="center",
                fontsize=9, color="#c0392b")
        code = "x = norm1(x + attn(x))\nx = norm2(x + mlp(x))"
        note = ("every path from input to output runs through\n"
                "LayerNorms: large gradients near the output at\n"
                "initialisation, needs learning-rate warm-up")
    ax.text(0.5, -0.035, code, ha="center", va="center", fontsize=11, family="monospace",
            bbox=dict(boxstyle="round,pad=0.4", facecolor="0.96", edgecolor="0.7"))
    ax.text(0.5, -0.155, note, ha="center", va="center", fontsize=9.5, color=stream if pre_ln else "#c0392b")


def make_figure():
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 7.2))
    panel(left, "Post-LN", "the original Transformer (Vaswani et al. 2017)", pre_ln=False)
    panel(right, "Pre-LN", "Xiong et al. 2020; used by ViT and by this course", pre_ln=True)
    fig.suptitle("Where the two LayerNorms of a transformer block go", fontsize=14, y=0.995)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.92, bottom=0.01, wspace=0.04)
    return fig


def main(path=OUT):
    """Draw the figure and save it to `path` as a small palette PNG.

    The notebook embeds this file in a markdown cell (a data URI: Colab shows neither relative paths
    nor cell attachments), so it is kept small: 64 colours, no timestamp, the same bytes on every rerun.
    """
    from PIL import Image

    fig = make_figure()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, facecolor="white", metadata={"Software": None})
    plt.close(fig)
    buffer.seek(0)
    image = Image.open(buffer).convert("RGB")
    image.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
    return Path(path)


if __name__ == "__main__":
    print(f"wrote {main().name}")
