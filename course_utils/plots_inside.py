"""The figures of notebook 07_inside_vit. Each function returns the matplotlib Figure.

Figures only: what they draw is computed by `course_utils.analysis` (attention of the class token, rollout,
attention distance, saliency). Attention figures use ONE colour scale per figure, so a bright panel means
more weight than a dark one anywhere in the figure, not only within its own panel.
"""
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F


def _image_np(image):
    """(C, H, W) or (H, W) -> (H, W) numpy (grey digits) or (H, W, C)."""
    image = torch.as_tensor(image).detach().float().cpu()
    if image.ndim == 3:
        image = image[0] if image.shape[0] == 1 else image.permute(1, 2, 0)
    return image.numpy()


def _to_pixels(values, size):
    """(N,) weights over a square grid of patches, or an (H, W) map -> (H, W) numpy, patches drawn as blocks."""
    values = torch.as_tensor(values).detach().float().cpu()
    if values.ndim == 2:
        return values.numpy()
    grid = int(round(len(values) ** 0.5))
    if grid * grid != len(values):
        raise ValueError(f"{len(values)} weights do not form a square grid of patches (class token left in?).")
    return F.interpolate(values.reshape(1, 1, grid, grid), size=size, mode="nearest")[0, 0].numpy()


def _overlay(ax, image, values, *, vmax, cmap="inferno", alpha=0.65):
    img = _image_np(image)
    ax.imshow(img, cmap="gray")
    shown = ax.imshow(_to_pixels(values, img.shape[:2]), cmap=cmap, alpha=alpha, vmin=0, vmax=vmax)
    ax.set_xticks([]), ax.set_yticks([])
    return shown


def plot_cls_attention(image, cls_attn, *, entropy=None, title=None):
    """What the class token reads in every layer (rows) and head (columns), over the digit.

    cls_attn: (L, h, N) weights of one image (analysis.cls_attention(maps)[i]).
    entropy: optional (L, h) entropies in bits, printed in each panel.
    One colour scale for the whole figure: 0 (black) to the largest weight of any panel.
    """
    cls_attn = torch.as_tensor(cls_attn).detach().float().cpu()
    L, h, _ = cls_attn.shape
    vmax = float(cls_attn.max())
    fig, axes = plt.subplots(L, h, figsize=(1.9 * h + 0.9, 1.9 * L + 0.5), squeeze=False, layout="constrained")
    for layer in range(L):
        for head in range(h):
            ax = axes[layer, head]
            shown = _overlay(ax, image, cls_attn[layer, head], vmax=vmax)
            if entropy is not None:
                ax.text(0.03, 0.04, f"{float(entropy[layer][head]):.2f} bits", transform=ax.transAxes,
                        color="white", fontsize=7)
            if layer == 0:
                ax.set_title(f"head {head}", fontsize=9)
            if head == 0:
                ax.set_ylabel(f"layer {layer + 1}", fontsize=9)
    fig.colorbar(shown, ax=axes, shrink=0.6, label="attention weight (one scale)")
    fig.suptitle(title or "where the class token looks: rows are layers, columns are heads")
    return fig


def plot_head_entropy(entropy, num_patches, *, title=None):
    """Heatmap of the class token's attention entropy per layer and head, in bits; the scale ends at log2(N)."""
    entropy = torch.as_tensor(entropy).detach().float().cpu().numpy()
    L, h = entropy.shape
    top = float(np.log2(num_patches))
    fig, ax = plt.subplots(figsize=(1.0 * h + 2.4, 0.6 * L + 1.4), layout="constrained")
    shown = ax.imshow(entropy, cmap="viridis", vmin=0, vmax=top)
    for layer in range(L):
        for head in range(h):
            ax.text(head, layer, f"{entropy[layer, head]:.2f}", ha="center", va="center",
                    color="white" if entropy[layer, head] < 0.6 * top else "black", fontsize=9)
    ax.set(xticks=range(h), yticks=range(L), yticklabels=[f"layer {i + 1}" for i in range(L)], xlabel="head",
           title=title or f"entropy of the class token's attention (0 = one patch, {top:.1f} = all {num_patches} evenly)")
    fig.colorbar(shown, ax=ax, label="bits")
    return fig


def plot_digit_maps(images, maps, *, titles=None, title=None, cmap="inferno", normalize=True):
    """Rows of maps over a row of digits: one column per digit, one row per method (or layer).

    images: (B, C, H, W). maps: {row label: (B, N) patch weights or (B, H, W) pixel maps}.
    normalize=True: each map is divided by its own maximum, so all panels share one scale from 0 to 1 (compare
    where each method puts its weight, not how much). normalize=False: the raw values on one scale, 0 to the
    largest value in the figure (for attention weights, which are comparable).
    """
    B = len(images)
    top = 1.0 if normalize else max(float(torch.as_tensor(v).max()) for v in maps.values())
    fig, axes = plt.subplots(len(maps), B, figsize=(1.5 * B + 1.4, 1.6 * len(maps) + 0.5), squeeze=False,
                             layout="constrained")
    for r, (label, values) in enumerate(maps.items()):
        values = torch.as_tensor(values).detach().float().cpu()
        for c in range(B):
            v = values[c] / values[c].max().clamp_min(1e-12) if normalize else values[c]
            shown = _overlay(axes[r, c], images[c], v, vmax=top, cmap=cmap)
            if r == 0 and titles is not None:
                axes[r, c].set_title(titles[c], fontsize=8)
        axes[r, 0].set_ylabel(label, fontsize=8)
    fig.colorbar(shown, ax=axes, shrink=0.6, label="share of the map's maximum" if normalize else "weight (one scale)")
    if title:
        fig.suptitle(title)
    return fig


def plot_attention_distance(distances, *, uniform=None, patch_size=None, title=None):
    """Mean attention distance per head (dots) and its mean per layer (line), one colour per model.

    distances: {label: (L, h) distances in pixels}. uniform: the distance of attention spread evenly
    over all patches (a dashed line: the most global a head can be on average).
    """
    fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
    shift = np.linspace(-0.12, 0.12, len(distances)) if len(distances) > 1 else [0.0]
    for (label, d), dx, color in zip(distances.items(), shift, plt.cm.tab10.colors):
        d = torch.as_tensor(d).detach().float().cpu().numpy()
        layers = np.arange(1, len(d) + 1)
        for layer, row in zip(layers, d):
            ax.scatter(np.full(len(row), layer + dx), row, color=color, s=22, alpha=0.75)
        ax.plot(layers + dx, d.mean(1), color=color, marker="o", label=f"{label} (line: mean of heads)")
    if uniform is not None:
        ax.axhline(uniform, color="gray", linestyle="--", label="attention spread evenly")
    if patch_size is not None:
        ax.axhline(patch_size, color="gray", linestyle=":", label="one patch away")
    ax.set(xlabel="layer", ylabel="mean attention distance (pixels)", xticks=range(1, len(d) + 1), ylim=(0, None),
           title=title or "how far each head looks (dots: heads)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_ablation(labels, accuracies, *, title=None):
    """Horizontal bars: test accuracy of each ablation variant, the value printed on each bar."""
    fig, ax = plt.subplots(figsize=(6.4, 0.5 * len(labels) + 1.2), layout="constrained")
    acc = 100 * np.asarray(accuracies, dtype=float)
    ax.barh(range(len(labels)), acc, color="tab:blue")
    for i, a in enumerate(acc):
        ax.text(a, i, f" {a:.1f} %", va="center", fontsize=9)
    low = max(0.0, float(acc.min()) - 10)
    ax.set(yticks=range(len(labels)), yticklabels=labels, xlim=(low, 100), xlabel="test accuracy (%)",
           title=title or "position embedding and pooling: one short run each")
    ax.invert_yaxis()
    return fig


def plot_attention_choice(image, cls_attn, rollout, *, layer, head, label=None, prediction=None):
    """The widget's figure: the digit, the class token's attention in one layer and head (head=None: the mean
    of the heads), and the rollout up to that layer.

    cls_attn: (L, h, N) of this image; rollout: (L, N), the class token's row of the rollout after each layer.
    The two maps are different quantities, so each has its own colour bar.
    """
    cls_attn = torch.as_tensor(cls_attn).detach().float().cpu()
    weights = cls_attn[layer].mean(0) if head is None else cls_attn[layer, head]
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2), layout="constrained")
    axes[0].imshow(_image_np(image), cmap="gray")
    axes[0].set_xticks([]), axes[0].set_yticks([])
    said = "" if label is None else f"label {label}" + ("" if prediction is None else f", predicted {prediction}")
    axes[0].set_title(said or "the digit", fontsize=9, color="red" if prediction not in (None, label) else "black")
    shown = _overlay(axes[1], image, weights, vmax=float(cls_attn[layer].max()))
    fig.colorbar(shown, ax=axes[1], shrink=0.8)
    axes[1].set_title(f"layer {layer + 1}, {'mean of heads' if head is None else f'head {head}'}", fontsize=9)
    rolled = torch.as_tensor(rollout).detach().float().cpu()[layer]
    shown = _overlay(axes[2], image, rolled, vmax=float(rolled.max()))
    fig.colorbar(shown, ax=axes[2], shrink=0.8)
    axes[2].set_title(f"rollout through layers 1-{layer + 1}", fontsize=9)
    fig.suptitle("class token: attention in one layer (middle) and rolled out (right)")
    return fig
