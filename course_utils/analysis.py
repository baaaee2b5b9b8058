"""Looking inside trained models (notebooks 06_dataset_size and 07_inside_vit).

- `position_similarity`, `locality_score`: what a ViT's learned position embeddings know of the 2-D grid.
- `attention_rollout` (Abnar & Zuidema 2020): attention followed through the layers, residual included.
- `mean_attention_distance` (Dosovitskiy et al. 2021, Fig. 7): how far, in pixels, each head looks.
- `cls_attention`, `attention_entropy`: what the class token reads in each layer and head, and how spread out.
- `input_saliency`, `grad_cam`: which pixels a model's output is most sensitive to.

All of them take tensors (or a model) and return tensors or floats; drawing lives in `plots`.
"""
import numpy as np
import torch
import torch.nn.functional as F


# ---------------------------------------------------------------------------- position embeddings
def position_similarity(pos_embed, grid_size):
    """Cosine similarity between the learned position embeddings of all patch pairs.

    pos_embed: (1, N+1, D) or (N+1, D) with the class token first (or (N, D) without).
    Returns (N, N) with N = grid_size ** 2.
    """
    p = torch.as_tensor(pos_embed).detach().float().cpu().reshape(-1, pos_embed.shape[-1])
    if len(p) == grid_size ** 2 + 1:
        p = p[1:]                                             # drop the class token's position
    if len(p) != grid_size ** 2:
        raise ValueError(f"{len(p)} position embeddings do not fit a {grid_size}x{grid_size} grid.")
    p = F.normalize(p, dim=-1)                                # (N, D), unit length
    return p @ p.T                                            # (N, N)


def grid_distances(grid_size, patch_size=1):
    """(N, N) distance between the centres of every pair of patches of a grid, in pixels."""
    rows, cols = torch.meshgrid(torch.arange(grid_size), torch.arange(grid_size), indexing="ij")
    xy = torch.stack([rows.flatten(), cols.flatten()], 1).float()   # (N, 2) grid coordinates
    return torch.cdist(xy, xy) * patch_size                          # (N, N)


def locality_score(pos_embed, grid_size):
    """How much the position embeddings encode the 2-D layout: the correlation, over all pairs of
    different patches, between their cosine similarity and minus their distance on the grid.
    About 0 for random embeddings; near 1 when neighbouring patches have the most similar embeddings.
    """
    sim = position_similarity(pos_embed, grid_size)
    dist = grid_distances(grid_size)
    off = ~torch.eye(len(dist), dtype=torch.bool)
    return float(np.corrcoef(sim[off].numpy(), -dist[off].numpy())[0, 1])


# ---------------------------------------------------------------------------------------- attention
def _check_maps(maps):
    maps = list(maps) if isinstance(maps, (list, tuple)) else [maps]
    for a in maps:
        if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
            raise ValueError(f"expected attention weights of shape (B, h, N, N) per layer, got {tuple(a.shape)}.")
    return maps


def attention_rollout(maps, *, residual=True):
    """Attention rollout: the product of the head-averaged attention matrices through the layers.

    maps: a list of (B, h, N, N) attention weights, first layer first (VisionTransformer(x, return_attention=True)).
    residual: add the identity for the skip connection and renormalise rows, 0.5 * A + 0.5 * I, as Abnar &
        Zuidema do (each block adds its input back, so half of what a token carries is itself).
    Returns (B, N, N): row i says how much of token i's final representation comes from each input token.
    """
    maps = _check_maps(maps)
    rollout = None
    for a in maps:
        a = a.float().mean(dim=1)                                    # (B, N, N): average the heads
        if residual:
            eye = torch.eye(a.shape[-1], device=a.device, dtype=a.dtype)
            a = 0.5 * a + 0.5 * eye
            a = a / a.sum(dim=-1, keepdim=True)                      # rows sum to 1 again
        rollout = a if rollout is None else a @ rollout              # later layer on the left
    return rollout


def cls_attention(maps):
    """The class token's attention to the patches in every layer: a list of (B, h, N+1, N+1) -> (B, L, h, N).

    The weights are the raw ones (the class token's weight on itself is dropped, so rows sum to less than 1).
    """
    maps = _check_maps(maps)
    return torch.stack([a[:, :, 0, 1:].float() for a in maps], dim=1)      # (B, L, h, N)


def attention_entropy(weights):
    """Entropy in bits of attention rows over their last axis: (..., N) -> (...).

    Each row is renormalised to sum to 1 first. 0 bits = all weight on one token; log2(N) = spread evenly.
    """
    p = torch.as_tensor(weights).float()
    p = p / p.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    return -torch.special.xlogy(p, p).sum(dim=-1) / np.log(2)               # xlogy: 0 * log 0 = 0


def mean_attention_distance(attn, patch_size, *, has_cls_token=True):
    """Mean attention distance per head, in pixels (Dosovitskiy et al. 2021, Fig. 7).

    For each patch (query), the distance to every other patch (key) weighted by how much it attends to it,
    averaged over queries and images. The class token is left out as query and as key, and each query's
    weights over the patches are renormalised to sum to 1.
    attn: (B, h, N+1, N+1) with the class token first (or (B, h, N, N) with has_cls_token=False).
    Returns (h,): one distance per head. Small = the head looks at neighbours; about a third of the image
    width = it looks everywhere (the average distance between two random patches).
    """
    (attn,) = _check_maps(attn)
    a = attn.float()
    if has_cls_token:
        a = a[:, :, 1:, 1:]                                          # (B, h, N, N): patches only
    n = a.shape[-1]
    grid = int(round(n ** 0.5))
    if grid * grid != n:
        raise ValueError(f"{n} patch tokens do not form a square grid; pass has_cls_token correctly.")
    a = a / a.sum(dim=-1, keepdim=True).clamp_min(1e-12)             # each query's weights sum to 1
    dist = grid_distances(grid, patch_size).to(a.device)             # (N, N) pixels
    return (a * dist).sum(dim=-1).mean(dim=(0, 2))                   # (B, h, N) -> (h,)


@torch.no_grad()
def attention_distances(model, images, *, batch_size=500):
    """Mean attention distance (pixels) of every head of a VisionTransformer: a (depth, h) tensor."""
    was_training = model.training
    model.eval()
    total, count = None, 0
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        _, maps = model(x, return_attention=True)
        d = torch.stack([mean_attention_distance(a, model.cfg.patch_size) for a in maps])   # (depth, h)
        total = d * len(x) if total is None else total + d * len(x)
        count += len(x)
    model.train(was_training)
    return (total / count).cpu()


# ------------------------------------------------------------------------------------------ saliency
def input_saliency(model, images, target=None):
    """|d logit_target / d pixel|, the largest over channels: (B, C, H, W) -> (B, H, W).

    target: (B,) classes to explain; default the model's own prediction.
    """
    was_training = model.training
    model.eval()
    x = images.detach().clone().requires_grad_(True)
    logits = model(x)                                                # (B, K)
    if target is None:
        target = logits.argmax(1)
    logits.gather(1, target.view(-1, 1)).sum().backward()
    model.train(was_training)
    return x.grad.abs().amax(dim=1)                                  # (B, H, W)


def grad_cam(model, layer, images, target=None):
    """Grad-CAM (Selvaraju et al. 2017) at `layer` (a module whose output is (B, C', h, w)): (B, H, W) in [0, 1].

    The layer's feature maps weighted by the mean gradient of the target logit over each map, summed,
    ReLU'd, upsampled to the image size and scaled so each image's maximum is 1.
    """
    saved = {}
    hook = layer.register_forward_hook(lambda m, i, out: saved.update(act=out))
    was_training = model.training
    model.eval()
    try:
        logits = model(images)                                       # (B, K)
    finally:
        hook.remove()
    if target is None:
        target = logits.argmax(1)
    act = saved["act"]                                               # (B, C', h, w)
    grads, = torch.autograd.grad(logits.gather(1, target.view(-1, 1)).sum(), act)
    weights = grads.mean(dim=(2, 3), keepdim=True)                   # (B, C', 1, 1)
    cam = F.relu((weights * act).sum(dim=1, keepdim=True))           # (B, 1, h, w)
    cam = F.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    model.train(was_training)
    peak = cam.flatten(1).amax(dim=1).clamp_min(1e-12).view(-1, 1, 1)
    return (cam / peak).detach()                                     # (B, H, W)
