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


def plot_attention_map(image, attention, patch_size, *, query=0, heads=None, title=None):
    """What one query attends to, drawn over the image, one panel per head.

    Args:
        image: (C, H, W) or (H, W).
        attention: (h, N+1, N+1) weights of one image (with class token) or (h, N, N) (without).
        query: the token whose row is drawn (0 = class token when there is one).
    """
    image = torch.as_tensor(image).detach().float().cpu()
    if image.ndim == 2:
        image = image.unsqueeze(0)
    attention = torch.as_tensor(attention).detach().float().cpu()
    if attention.ndim == 2:
        attention = attention.unsqueeze(0)                         # (1, N, N)
    H, W = image.shape[-2:]
    rows, cols = H // patch_size, W // patch_size
    n_patches = rows * cols
    has_cls = attention.shape[-1] == n_patches + 1
    if attention.shape[-1] not in (n_patches, n_patches + 1):
        raise ValueError(f"attention covers {attention.shape[-1]} tokens but a {H}x{W} image with patch size "
                         f"{patch_size} has {n_patches} patches (+1 with a class token).")
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
