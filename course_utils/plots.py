"""Every figure of the course. Each function returns the matplotlib Figure (and draws nothing global)."""
import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from .patches import img_to_patch


def _image_np(image):
    """(C, H, W) or (H, W) tensor -> (H, W) or (H, W, C) numpy for imshow."""
    image = torch.as_tensor(image).detach().float().cpu()
    if image.ndim == 3:
        image = image[0] if image.shape[0] == 1 else image.permute(1, 2, 0)
    return image.numpy()


def plot_patches(image, patch_size, *, title=None):
    """An image with its patch grid numbered in reading order, beside the patches pulled apart."""
    image = torch.as_tensor(image).detach().float().cpu()
    if image.ndim == 2:
        image = image.unsqueeze(0)                                       # (C, H, W)
    C, H, W = image.shape
    rows, cols = H // patch_size, W // patch_size
    patches = img_to_patch(image.unsqueeze(0), patch_size, flatten=False)[0]  # (N, C, P, P)
    fig = plt.figure(figsize=(9, 4.5), layout="constrained")
    left, right = fig.subfigures(1, 2)
    ax = left.subplots()
    ax.imshow(_image_np(image), cmap="gray")
    for r in range(rows):
        for c in range(cols):
            ax.add_patch(plt.Rectangle((c * patch_size - 0.5, r * patch_size - 0.5), patch_size, patch_size,
                                       fill=False, edgecolor="tab:orange", linewidth=1))
            if rows * cols <= 64:
                ax.text(c * patch_size + 0.5, r * patch_size + 1.5, str(r * cols + c), color="tab:orange",
                        fontsize=8 if rows * cols <= 16 else 6, va="top")
    ax.set_title(title or f"{H}x{W} image, patch size {patch_size}: {rows * cols} patches")
    ax.axis("off")
    axes = right.subplots(rows, cols, squeeze=False)
    for i, a in enumerate(axes.flat):
        a.imshow(_image_np(patches[i]), cmap="gray", vmin=float(image.min()), vmax=float(image.max()))
        a.set_xticks([]), a.set_yticks([])
    right.suptitle("the patches, in reading order")
    return fig


def plot_patch_sequence(image, patch_size, *, max_tokens=64):
    """The flattened sequence a ViT reads: one row per token, C*P*P pixel values per row."""
    image = torch.as_tensor(image).detach().float().cpu()
    if image.ndim == 2:
        image = image.unsqueeze(0)
    tokens = img_to_patch(image.unsqueeze(0), patch_size)[0][:max_tokens]  # (N, C*P*P)
    fig, ax = plt.subplots(figsize=(8, max(2.0, 0.25 * len(tokens) + 1)), layout="constrained")
    ax.imshow(tokens.numpy(), cmap="gray", aspect="auto", interpolation="nearest")
    ax.set_xlabel(f"pixel within the patch (C*P*P = {tokens.shape[1]})")
    ax.set_ylabel("token (patch number)")
    ax.set_title(f"the image as a sequence of {tokens.shape[0]} tokens")
    return fig


def _grid_lines(ax, H, W, patch_size, color="tab:orange"):
    """Draw the patch grid of an H x W image over an imshow axis."""
    for r in range(1, H // patch_size):
        ax.axhline(r * patch_size - 0.5, color=color, linewidth=0.8)
    for c in range(1, W // patch_size):
        ax.axvline(c * patch_size - 0.5, color=color, linewidth=0.8)


def plot_patch_sizes(image, patch_sizes=(2, 4, 7, 14)):
    """One column per patch size: the image with its patch grid (top) and the token sequence (bottom)."""
    image = torch.as_tensor(image).detach().float().cpu()
    if image.ndim == 2:
        image = image.unsqueeze(0)                                        # (C, H, W)
    C, H, W = image.shape
    n = len(patch_sizes)
    fig, axes = plt.subplots(2, n, figsize=(max(2.6 * n, 3.6), 5.6), squeeze=False, layout="constrained",
                             gridspec_kw={"height_ratios": [1, 1]})
    for j, P in enumerate(patch_sizes):
        tokens = img_to_patch(image.unsqueeze(0), P)[0]                   # (N, C*P*P)
        top, bottom = axes[0, j], axes[1, j]
        top.imshow(_image_np(image), cmap="gray")
        _grid_lines(top, H, W, P)
        N, L = tokens.shape
        top.set_title(f"P = {P}\n{N} token{'s' * (N > 1)} x {L} value{'s' * (L > 1)}", fontsize=10)
        top.axis("off")
        bottom.imshow(tokens.numpy(), cmap="gray", aspect="auto", interpolation="nearest")
        bottom.set_xlabel(f"value in token (C*P*P = {tokens.shape[1]})", fontsize=8)
        bottom.set_ylabel(f"token (N = {tokens.shape[0]})", fontsize=8)
        bottom.tick_params(labelsize=7)
        bottom.yaxis.set_major_locator(plt.MaxNLocator(integer=True, min_n_ticks=1))
        bottom.xaxis.set_major_locator(plt.MaxNLocator(integer=True, min_n_ticks=1))
    if n > 1:
        fig.suptitle("small patches: many short tokens; big patches: few long tokens", fontsize=11)
    return fig


def plot_token_tiles(token_sets, patch_size, *, grid=None, channels=1):
    """Tokens (N, C*P*P) drawn back as P x P tiles, one panel per named set, to see what each token holds.

    Args:
        token_sets: {title: tokens (N, C*P*P)} (one image's tokens per panel).
        grid: (rows, cols) of tiles; default a square sqrt(N) x sqrt(N).
        channels: C; with C > 1 each tile shows the mean over its channels.
    """
    n = len(token_sets)
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 3.8), squeeze=False, layout="constrained")
    P = patch_size
    for ax, (name, tokens) in zip(axes.flat, token_sets.items()):
        tokens = torch.as_tensor(tokens).detach().float().cpu()
        N = tokens.shape[0]
        rows, cols = grid or (math.isqrt(N), math.isqrt(N))
        if rows * cols != N:
            raise ValueError(f"{N} tokens do not fill a {rows}x{cols} grid: pass grid=(rows, cols).")
        tiles = tokens.reshape(N, channels, P, P)                         # (N, C, P, P)
        canvas = np.full((rows * (P + 1) - 1, cols * (P + 1) - 1), np.nan)  # one blank pixel between tiles
        for i in range(N):
            r, c = divmod(i, cols)
            canvas[r * (P + 1):r * (P + 1) + P, c * (P + 1):c * (P + 1) + P] = _image_np(tiles[i]) if channels == 1 \
                else tiles[i].mean(0).numpy()
        cmap = plt.get_cmap("gray").with_extremes(bad="tab:orange")      # the gaps (NaN) in orange
        ax.imshow(canvas, cmap=cmap, interpolation="nearest")
        ax.set_title(name, fontsize=10)
        ax.axis("off")
    return fig


def show_images(images, labels=None, predictions=None, *, classes=None, ncols=8, title=None):
    """A grid of images with their labels (and predictions: red when wrong)."""
    images = torch.as_tensor(images).detach().float().cpu()
    n = len(images)
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.4 * ncols, 1.6 * nrows), squeeze=False, layout="constrained")
    name = (lambda i: classes[i]) if classes is not None else str
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(_image_np(images[i]), cmap="gray")
        text, color = "", "black"
        if labels is not None:
            text = f"label {name(int(labels[i]))}"
        if predictions is not None:
            text += f"\npred {name(int(predictions[i]))}"
            color = "tab:red" if labels is not None and int(predictions[i]) != int(labels[i]) else "tab:green"
        ax.set_title(text, fontsize=8, color=color)
    if title:
        fig.suptitle(title)
    return fig


def _attention_inputs(image, attention, patch_size):
    """Image as (C, H, W) and weights as (h, T, T) on the CPU, the patch grid, and whether token 0 is a class token."""
    image = torch.as_tensor(image).detach().float().cpu()
    if image.ndim == 2:
        image = image.unsqueeze(0)                                 # (1, H, W)
    attention = torch.as_tensor(attention).detach().float().cpu()
    if attention.ndim == 2:
        attention = attention.unsqueeze(0)                         # (1, N, N)
    H, W = image.shape[-2:]
    rows, cols = H // patch_size, W // patch_size
    n_patches = rows * cols
    if attention.shape[-1] not in (n_patches, n_patches + 1):
        raise ValueError(f"attention covers {attention.shape[-1]} tokens but a {H}x{W} image with patch size "
                         f"{patch_size} has {n_patches} patches (+1 with a class token).")
    return image, attention, (H, W), (rows, cols), attention.shape[-1] == n_patches + 1


def plot_attention_map(image, attention, patch_size, *, query=0, heads=None, title=None):
    """What one query attends to, drawn over the image, one panel per head.

    Args:
        image: (C, H, W) or (H, W).
        attention: (h, N+1, N+1) weights of one image (with class token) or (h, N, N) (without).
        query: the token whose row is drawn (0 = class token when there is one).
    """
    image, attention, (H, W), (rows, cols), has_cls = _attention_inputs(image, attention, patch_size)
    heads = range(attention.shape[0]) if heads is None else heads
    fig, axes = plt.subplots(1, len(heads), figsize=(3 * len(heads), 3.3), squeeze=False, layout="constrained")
    for ax, h in zip(axes.flat, heads):
        row = attention[h, query, 1:] if has_cls else attention[h, query]     # (N,) over the patches
        grid = row.reshape(1, 1, rows, cols)
        up = torch.nn.functional.interpolate(grid, size=(H, W), mode="nearest")[0, 0]
        ax.imshow(_image_np(image), cmap="gray")
        ax.imshow(up.numpy(), cmap="inferno", alpha=0.6)
        if not (has_cls and query == 0):
            q = query - 1 if has_cls else query
            ax.add_patch(plt.Rectangle(((q % cols) * patch_size - 0.5, (q // cols) * patch_size - 0.5),
                                       patch_size, patch_size, fill=False, edgecolor="cyan", linewidth=2))
        ax.set_title(f"head {h}")
        ax.axis("off")
    who = "the class token" if has_cls and query == 0 else f"patch {query - 1 if has_cls else query} (cyan)"
    fig.suptitle(title or f"where {who} looks")
    return fig


def plot_attention_weights(weights, *, title="attention weights", labels=None):
    """A heatmap of one (N, M) weight matrix: row = query, column = key."""
    import seaborn as sns

    weights = torch.as_tensor(weights).detach().float().cpu().numpy()
    fig, ax = plt.subplots(figsize=(5, 4.2), layout="constrained")
    sns.heatmap(weights, ax=ax, cmap="viridis", square=True, cbar_kws={"label": "weight"},
                xticklabels=labels if labels is not None else "auto", yticklabels=labels if labels is not None else "auto")
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    ax.set_title(title)
    return fig


def plot_history(histories, *, title=None):
    """Loss and accuracy per epoch: train solid, validation dashed. `histories`: one history or {name: history}."""
    if "train_loss" in histories:
        histories = {"": histories}
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for i, (name, h) in enumerate(histories.items()):
        color = f"C{i}"
        label = f"{name} " if name else ""
        ax_loss.plot(h["epoch"], h["train_loss"], color=color, label=f"{label}train")
        ax_acc.plot(h["epoch"], h["train_acc"], color=color, label=f"{label}train")
        if h.get("val_loss"):
            ax_loss.plot(h["epoch"], h["val_loss"], color=color, linestyle="--", label=f"{label}validation")
            ax_acc.plot(h["epoch"], h["val_acc"], color=color, linestyle="--", label=f"{label}validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", yscale="log", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_confusion_matrix(confusion, classes, *, title="confusion matrix", normalize=False):
    """Heatmap of a (K, K) confusion matrix (rows: true class, columns: predicted)."""
    import seaborn as sns

    cm = np.asarray(confusion, dtype=float)
    if normalize:
        cm = cm / cm.sum(axis=1, keepdims=True).clip(min=1)
    fig, ax = plt.subplots(figsize=(6, 5), layout="constrained")
    off_diag = cm.copy()
    np.fill_diagonal(off_diag, np.nan)  # colour the mistakes; the diagonal would wash them out
    sns.heatmap(off_diag, ax=ax, cmap="Reds", annot=cm, fmt=".2f" if normalize else ".0f",
                xticklabels=classes, yticklabels=classes, cbar=False, annot_kws={"fontsize": 7})
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return fig


def plot_data_efficiency(records, *, metric="test_acc", title="accuracy against training set size"):
    """Mean and spread (min-max over seeds as error bars) per model against the training-set size, log x.

    records: list of dicts with keys "model", "train_size", and `metric`.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    models = sorted({r["model"] for r in records})
    for i, model in enumerate(models):
        sizes = sorted({r["train_size"] for r in records if r["model"] == model})
        values = [[r[metric] for r in records if r["model"] == model and r["train_size"] == s] for s in sizes]
        mean = np.array([np.mean(v) for v in values])
        lo = mean - np.array([np.min(v) for v in values])
        hi = np.array([np.max(v) for v in values]) - mean
        ax.errorbar(sizes, mean, yerr=[lo, hi], marker="o", capsize=4, color=f"C{i}", label=model)
    ax.set_xscale("log")
    ax.set(xlabel="training images (log scale)", ylabel=metric.replace("_", " "), title=title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig


def plot_attention_grid(image, attention, patch_size, *, queries, heads=None, title=None):
    """Several queries at once, each drawn over the image: one row per query, one column per head
    (with a single head, the queries side by side in one row).

    Args:
        image: (C, H, W) or (H, W).
        attention: (h, N+1, N+1) weights of one image (with class token) or (h, N, N) (without).
        queries: token indices (0 = class token when there is one); the query patch is outlined in cyan.
    One colour scale for the whole figure, from 0 (black) to the largest weight shown, with a colour bar, so a
    near-uniform map looks flat next to a peaked one; each panel prints its largest weight and its entropy in
    bits (log2 of the number of patches for uniform attention, 0 for attention on one patch).
    """
    image, attention, (H, W), (rows, cols), has_cls = _attention_inputs(image, attention, patch_size)
    heads = list(range(attention.shape[0]) if heads is None else heads)
    shown = torch.stack([attention[h, q, 1:] if has_cls else attention[h, q] for q in queries for h in heads])
    vmax = float(shown.max())                                    # (queries * heads, N): one scale for all panels
    one_head = len(heads) == 1
    grid = (1, len(queries)) if one_head else (len(queries), len(heads))
    fig, axes = plt.subplots(*grid, figsize=(2.4 * grid[1] + 0.6, 2.5 * grid[0] + 0.3), squeeze=False,
                             layout="constrained")
    for r, query in enumerate(queries):
        is_cls = has_cls and query == 0
        patch = query - 1 if has_cls else query
        name = "class token" if is_cls else f"patch {patch}"
        for c, h in enumerate(heads):
            ax = axes[0, r] if one_head else axes[r, c]
            row = attention[h, query, 1:] if has_cls else attention[h, query]   # (N,) over the patches
            up = torch.nn.functional.interpolate(row.reshape(1, 1, rows, cols), size=(H, W), mode="nearest")[0, 0]
            ax.imshow(_image_np(image), cmap="gray")
            im = ax.imshow(up.numpy(), cmap="inferno", alpha=0.6, vmin=0, vmax=vmax)  # 0 = black, one scale
            p = row / row.sum()                                                      # over the patches only
            entropy = float(-(p * torch.log2(p.clamp_min(1e-12))).sum())
            ax.text(0.02, 0.02, f"max {float(row.max()):.2f}, H {entropy:.1f} bits", transform=ax.transAxes,
                    color="white", fontsize=7)
            if not is_cls:
                ax.add_patch(plt.Rectangle(((patch % cols) * patch_size - 0.5, (patch // cols) * patch_size - 0.5),
                                           patch_size, patch_size, fill=False, edgecolor="cyan", linewidth=2))
            ax.set_xticks([]), ax.set_yticks([])
            if one_head:
                ax.set_title(f"query: {name}")
            else:
                if r == 0:
                    ax.set_title(f"head {h}")
                if c == 0:
                    ax.set_ylabel(f"query: {name}")
    fig.colorbar(im, ax=axes, shrink=0.6, label="attention weight (one scale for all panels)")
    default = (f"where each query (cyan box) looks, head {heads[0]}" if one_head else
               "where each query (cyan box) looks: rows are queries, columns are heads")
    fig.suptitle(title or default)
    return fig


def plot_feature_maps(maps, *, image=None, titles=None, ncols=8, symmetric=False, title=None):
    """A grid of 2-D maps (feature maps, or conv filters), with the input image first if given.

    Args:
        maps: (K, H, W) or (K, 1, H, W): K maps of one image, or K single-channel filters.
        symmetric: one colour scale centred on 0 for all maps (red +, blue -): for filters and
            signed maps. Otherwise each map gets its own scale, so weak maps stay visible.
    """
    maps = torch.as_tensor(maps).detach().float().cpu()
    if maps.ndim == 4:
        maps = maps[:, 0]                                                # (K, H, W)
    panels = len(maps) + (image is not None)
    ncols = min(ncols, panels)
    nrows = math.ceil(panels / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.5 * ncols, 1.6 * nrows + 0.4), squeeze=False,
                             layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    slots = iter(axes.flat)
    if image is not None:
        ax = next(slots)
        ax.imshow(_image_np(image), cmap="gray")
        ax.set_title("input", fontsize=8)
    limit = float(maps.abs().max()) or 1.0
    for i, m in enumerate(maps):
        ax = next(slots)
        if symmetric:
            ax.imshow(m.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
        else:
            ax.imshow(m.numpy(), cmap="magma")
        ax.set_title(titles[i] if titles is not None else f"{i}", fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_position_similarity(pos_embeds, grid_size, *, title="what the position embeddings learned"):
    """Cosine similarity of each patch's learned position embedding to every other patch's: one small map
    per patch, laid out where the patch sits, the patch itself outlined (as in Dosovitskiy et al. 2021, Fig. 7).

    pos_embeds: {label: (1, N+1, D) or (N, D) embeddings}, one panel each; N = grid_size ** 2.
    The colour scale is shared by all panels and spans the largest similarity between two different patches.
    """
    from .analysis import position_similarity

    sims = {}
    for label, pos_embed in pos_embeds.items():
        sim = position_similarity(pos_embed, grid_size).numpy().copy()          # (N, N)
        np.fill_diagonal(sim, np.nan)                                         # a patch's own similarity is 1: hide it
        sims[label] = sim
    vmax = max(float(np.nanmax(np.abs(s))) for s in sims.values())
    fig = plt.figure(figsize=(3.4 * len(sims) + 1.0, 3.9), layout="constrained")
    panels = fig.subfigures(1, len(sims) + 1, width_ratios=[1] * len(sims) + [0.4])
    for panel, (label, sim) in zip(panels, sims.items()):
        axes = panel.subplots(grid_size, grid_size, squeeze=False)
        for i, ax in enumerate(axes.flat):
            image = ax.imshow(sim[i].reshape(grid_size, grid_size), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            ax.add_patch(plt.Rectangle((i % grid_size - 0.5, i // grid_size - 0.5), 1, 1, fill=False,
                                       edgecolor="black", linewidth=1.5))
            ax.set_xticks([]), ax.set_yticks([])
        panel.suptitle(label, fontsize=10)
    panels[-1].colorbar(image, cax=panels[-1].add_axes([0.08, 0.12, 0.2, 0.72]), label="cosine similarity")
    fig.suptitle(title)
    return fig
