"""Figures of the data-size experiment (notebook 06_dataset_size): learning curves and learned locality.

Figures only: the numbers come from `experiments` (records of runs) and `analysis`.
"""
import matplotlib.pyplot as plt
import numpy as np

MODEL_COLORS = {"vit": "C0", "cnn": "C1", "lenet": "C2", "mlp": "C3"}
MODEL_NAMES = {"vit": "ViT", "cnn": "SmallCNN", "lenet": "LeNet-5", "mlp": "MLP on pixels"}


def _by_size(records, model, value):
    sizes = sorted({int(r["train_size"]) for r in records if r["model"] == model})
    groups = [[value(r) for r in records if r["model"] == model and int(r["train_size"]) == s] for s in sizes]
    return np.array(sizes), groups


def label_sizes(ax, sizes):
    """Mark the training-set sizes on a log x-axis (instead of 10^2, 10^3, ...)."""
    ax.set_xticks(list(sizes), [f"{s:,}" for s in sizes], rotation=30)
    ax.xaxis.set_minor_locator(plt.NullLocator())


def plot_learning_curves(reference, own=None, *, models=None, error=False, ax=None, title=None):
    """Test accuracy (or error rate, log-log) against training-set size, one colour per model.

    reference: records of the shipped reference sweep, drawn as lines (mean over seeds) with a band
    from the lowest to the highest seed. own: the student's records, drawn as open markers on dashed lines.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.8), layout="constrained")
    value = (lambda r: 1 - r["test_acc"]) if error else (lambda r: r["test_acc"])
    models = models or [m for m in MODEL_COLORS if any(r["model"] == m for r in reference + (own or []))]
    all_sizes = set()
    for model in models:
        color, name = MODEL_COLORS.get(model, "C7"), MODEL_NAMES.get(model, model)
        sizes, groups = _by_size(reference, model, value)
        if len(sizes):
            mean = np.array([np.mean(g) for g in groups])
            n = max(len(g) for g in groups)
            ax.plot(sizes, mean, "-o", color=color, label=f"{name}, reference ({n} seed{'s' * (n > 1)})")
            ax.fill_between(sizes, [min(g) for g in groups], [max(g) for g in groups], color=color, alpha=0.15)
            all_sizes.update(sizes.tolist())
        if own:
            sizes, groups = _by_size(own, model, value)
            if len(sizes):
                ax.plot(sizes, [np.mean(g) for g in groups], "--o", color=color, markerfacecolor="white",
                        label=f"{name}, your run")
                all_sizes.update(sizes.tolist())
    ax.set_xscale("log")
    if error:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{100 * v:g} %"))
    label_sizes(ax, sorted(all_sizes))
    ax.set(xlabel="training images (log scale)",
           ylabel="test error rate (log scale)" if error else "test accuracy",
           title=title or ("test error against training-set size" if error else "test accuracy against training-set size"))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, ncols=2)
    return ax.figure


def plot_attention_distance(records, *, patch_size, image_size=28, ax=None, title=None):
    """Mean attention distance (pixels) per layer against training-set size, from the ViT records'
    `attention_distance` (depth x heads): one line per layer (mean over heads and seeds), heads as dots."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
    vit = [r for r in records if r["model"] == "vit" and r.get("attention_distance")]
    sizes = sorted({int(r["train_size"]) for r in vit})
    depth = len(vit[0]["attention_distance"])
    for layer in range(depth):
        color = plt.cm.viridis(layer / max(1, depth - 1))
        means = []
        for s in sizes:
            heads = np.array([r["attention_distance"][layer] for r in vit if int(r["train_size"]) == s])  # (seeds, h)
            means.append(heads.mean())
            ax.scatter(np.full(heads.shape[1], s) * (1 + 0.03 * (layer - depth / 2)), heads.mean(0), color=color,
                       s=12, alpha=0.6)
        ax.plot(sizes, means, "-o", color=color, label=f"layer {layer + 1}")
    grid = image_size // patch_size
    xy = np.array([(r, c) for r in range(grid) for c in range(grid)], dtype=float)
    uniform = np.linalg.norm(xy[:, None] - xy[None], axis=-1).mean() * patch_size
    ax.axhline(uniform, color="gray", linestyle=":", label="uniform attention")
    ax.set_xscale("log")
    label_sizes(ax, sizes)
    ax.set(xlabel="training images (log scale)", ylabel="mean attention distance (pixels)",
           title=title or "how far the ViT's heads look (dots: heads, lines: mean per layer)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return ax.figure
