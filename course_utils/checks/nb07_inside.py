"""Checks of notebook 07_inside_vit: attention rollout and mean attention distance.

Both compare the student's function with `course_utils.analysis` on several random attention maps (layers,
heads, batch of one, grids of 2x2 to 7x7 patches) and name the classic mistakes: no residual identity, a sum
where the rows must stay normalised, layers multiplied in the wrong order, heads not averaged; the class token
kept, weights not renormalised, distances in patches instead of pixels or measured along the grid lines.
"""
import torch

from .core import _call, _reports_unfinished, _same, report


def _softmax_maps(g, layers, batch, heads, tokens, cls_boost=0.0):
    """`layers` random attention maps (B, h, N, N): rows sum to 1; cls_boost adds weight on token 0."""
    maps = []
    for _ in range(layers):
        logits = 2 * torch.randn(batch, heads, tokens, tokens, generator=g)
        logits[..., 0] += cls_boost
        maps.append(logits.softmax(dim=-1))
    return maps


def _as_tensor(out):
    try:
        return torch.as_tensor(out).detach().float().cpu()
    except Exception:
        return None


def _chain(mats, later_on_left=True):
    out = mats[0]
    for m in mats[1:]:
        out = m @ out if later_on_left else out @ m
    return out


def _rollout_variants(maps):
    """(output, hint) of the classic wrong rollouts, for the maps of one case."""
    eye = torch.eye(maps[0].shape[-1])
    half = [0.5 * a.mean(1) + 0.5 * eye for a in maps]                     # (B, N, N) per layer, correct
    return [
        (_chain([a.mean(1) for a in maps]), "the residual is missing: each block adds its input back, so use "
                                            "0.5 * A + 0.5 * I (A averaged over the heads) before multiplying"),
        (_chain([a.mean(1) + eye for a in maps]), "A + I has rows that sum to 2, so the product grows with depth: "
                                                  "use 0.5 * A + 0.5 * I (or divide each row by its sum)"),
        (_chain(half, later_on_left=False), "the order of the product is reversed: the later layer goes on the left, "
                                            "rollout = A_l @ rollout (A_1 is applied first)"),
        (_chain([0.5 * a.amax(1) + 0.5 * eye for a in maps]), "average the heads with mean(dim=1), not the maximum"),
        (_chain([0.5 * a.sum(1) + 0.5 * eye for a in maps]), "average the heads (mean over dim=1) rather than summing "
                                                             "them, so each row still sums to 1"),
        (torch.stack([_chain([0.5 * a[:, i] + 0.5 * eye for a in maps]) for i in range(maps[0].shape[1])], 1).mean(1),
         "average the heads in every layer before multiplying; a rollout per head, averaged at the end, differs"),
        (torch.stack(half).prod(0), "multiply matrices with @ (torch.matmul), not element by element with *"),
        (half[-1], "only the last layer is there: multiply the matrices of all layers"),
        (half[0], "only the first layer is there: multiply the matrices of all layers"),
    ]


@_reports_unfinished
def check_attention_rollout(fn, exercise="attention_rollout", points=2):
    """fn(maps) -> (B, N, N): attention rollout with the residual, 0.5 * A + 0.5 * I, of a list of (B, h, N, N)."""
    from ..analysis import attention_rollout

    def say(passed, message):
        return report(exercise, passed, message, points)

    g = torch.Generator().manual_seed(70)
    cases = [(1, 1, 1, 5), (2, 2, 4, 17), (3, 1, 2, 10), (4, 3, 3, 5), (6, 2, 4, 17)]   # (L, B, h, N)
    with torch.random.fork_rng(devices=[]):                  # student code must not move the notebook's seed
        for layers, batch, heads, tokens in cases:
            maps = _softmax_maps(g, layers, batch, heads, tokens)
            kept = [a.clone() for a in maps]
            where = f"for {layers} layer(s) of (B={batch}, h={heads}, N={tokens}) maps"
            expected = attention_rollout(kept)
            out, err = _call(fn, maps)
            if err:
                hint = ("maps is a Python list of (B, h, N, N) tensors, one per layer: loop over it"
                        if any(w in err for w in ("list", "attribute", "tuple")) else
                        "average each layer over its heads (dim=1), add the identity, multiply with @")
                return say(False, f"{err} ({where}). Hint: {hint}.")
            if any(not torch.equal(a, b) for a, b in zip(maps, kept)):
                return say(False, f"your function changed the attention maps it was given ({where}). "
                                               f"Hint: build new tensors (a = 0.5 * a + ...) instead of in-place "
                                               f"operations such as a += or a.mul_().")
            got = None if isinstance(out, (list, tuple)) else _as_tensor(out)
            if got is None:
                hint = (" Hint: multiply the layers' matrices into one: rollout = A_l @ rollout for each layer l."
                        if isinstance(out, (list, tuple)) else "")
                return say(False, f"returned a {type(out).__name__}, expected one (B, N, N) tensor.{hint}")
            if got.shape != expected.shape:
                if got.shape == (batch, tokens):
                    hint = "return the whole (B, N, N) matrix; the notebook takes row 0 (the class token) itself"
                elif got.shape == (batch, heads, tokens, tokens):
                    hint = "average over the heads, dim=1, so one (B, N, N) matrix per layer is left"
                elif got.shape == (tokens, tokens) or got.shape[0] != batch:
                    hint = "keep the batch axis: average over dim=1 (heads), never dim=0 (images)"
                else:
                    hint = "rollout is (B, N, N): one N x N matrix per image"
                return say(False, f"output shape {tuple(got.shape)} {where}, expected "
                                               f"{tuple(expected.shape)}. Hint: {hint}.")
            if _same(got, expected, tol=1e-4):
                continue
            hint = next((h for v, h in _rollout_variants(kept) if _same(got, v, tol=1e-4)), None)
            if hint is None:
                rows = got.sum(-1)
                hint = ("every row of the rollout should sum to 1 (each factor is row-stochastic)"
                        if not torch.allclose(rows, torch.ones_like(rows), atol=1e-3) else
                        "for each layer: A = maps[l].mean(dim=1); A = 0.5 * A + 0.5 * I; rollout = A @ rollout")
            return say(False, f"values differ from the reference {where} (largest difference "
                                           f"{(got - expected).abs().max():.3g}). Hint: {hint}.")
    return say(True, "matches the reference rollout (0.5 A + 0.5 I, heads averaged, later layers on the "
                                  "left) for 1 to 6 layers, 1 to 4 heads, 5 to 17 tokens and a batch of one.")


def _distance_variants(attn, patch_size):
    """(output, hint) of the classic wrong mean attention distances of one (B, h, N+1, N+1) map."""
    from ..analysis import grid_distances, mean_attention_distance

    patches = attn[:, :, 1:, 1:]
    grid = int(round(patches.shape[-1] ** 0.5))
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    xy = torch.stack([rows.flatten(), cols.flatten()], 1).float()
    manhattan = torch.cdist(xy, xy, p=1) * patch_size
    dist = grid_distances(grid, patch_size)
    norm = patches / patches.sum(-1, keepdim=True)
    right = mean_attention_distance(attn, patch_size)
    return [
        ((patches * dist).sum(-1).mean((0, 2)), "after dropping the class token, renormalise each query's weights "
                                                "over the patches so they sum to 1 (divide by their sum)"),
        (right / patch_size, "the distance is in patches; multiply by patch_size to get pixels"),
        ((norm * manhattan).sum(-1).mean((0, 2)), "that is the city-block distance (|dr| + |dc|); use the straight-"
                                                  "line (Euclidean) distance between patch centres"),
        ((norm * dist ** 2).sum(-1).mean((0, 2)), "that is the mean squared distance; weight the distance itself"),
        ((norm * dist).sum(-1).mean((0, 2)).mean().expand(attn.shape[1]), "average over images and queries only, "
                                                                          "one value per head"),
    ]


def _counts_the_class_token(fn, patch_size):
    """True when fn gives a non-zero distance to maps where every patch looks only at itself and at the class
    token (the right answer is 0): the class token was treated as a place on the grid."""
    n = 16
    attn = torch.zeros(1, 1, n + 1, n + 1)
    attn[0, 0, 0] = 1.0 / (n + 1)                                            # the class token looks everywhere
    attn[0, 0, 1:, 0] = 0.5
    attn[0, 0, 1:, 1:] = 0.5 * torch.eye(n)
    out, err = _call(fn, attn, patch_size)
    got = None if err else _as_tensor(out)
    return got is not None and got.numel() >= 1 and bool(got.abs().max() > 1e-3)


@_reports_unfinished
def check_mean_attention_distance(fn, exercise="mean_attention_distance", points=2):
    """fn(attn (B, h, N+1, N+1) with the class token first, patch_size) -> (h,) distances in pixels."""
    from ..analysis import mean_attention_distance

    def say(passed, message):
        return report(exercise, passed, message, points)

    g = torch.Generator().manual_seed(71)
    cases = [(1, 1, 4, 7), (2, 4, 4, 7), (3, 2, 7, 4), (1, 3, 2, 14), (2, 2, 3, 5)]   # (B, h, grid, patch size)
    with torch.random.fork_rng(devices=[]):
        for batch, heads, grid, patch_size in cases:
            (attn,) = _softmax_maps(g, 1, batch, heads, grid * grid + 1, cls_boost=1.0)
            kept = attn.clone()
            where = f"for (B={batch}, h={heads}) maps of a {grid}x{grid} grid + class token, patch size {patch_size}"
            expected = mean_attention_distance(kept, patch_size)
            out, err = _call(fn, attn, patch_size)
            if err:
                hint = ("drop the class token (token 0) as query and as key, attn[:, :, 1:, 1:], so the N patches "
                        "form a square grid" if any(w in err for w in ("shape", "size", "reshape", "match")) else
                        "distances between patch centres (row, column) * patch_size, weighted by the renormalised "
                        "attention, summed over keys, averaged over queries and images")
                return say(False, f"{err} ({where}). Hint: {hint}.")
            if not torch.equal(attn, kept):
                return say(False, f"your function changed the attention it was given ({where}). Hint: "
                                               f"slice and divide into new tensors, no in-place operations (/=).")
            got = _as_tensor(out)
            if got is None:
                return say(False, f"returned {type(out).__name__}, expected an (h,) tensor.")
            if got.shape != expected.shape:
                if got.shape == (batch, heads):
                    hint = "average over the images too: .mean(dim=(0, 2)) of the (B, h, N) per-query distances"
                elif got.numel() == 1:
                    hint = "return one distance per head: average over images and queries, not over the heads"
                elif got.shape[-1] in (grid * grid, grid * grid + 1):
                    hint = "average over the queries as well, leaving one value per head"
                else:
                    hint = "the result is (h,): one mean distance per head"
                return say(False, f"output shape {tuple(got.shape)} {where}, expected "
                                               f"{tuple(expected.shape)}. Hint: {hint}.")
            if _same(got, expected, tol=1e-4):
                continue
            hint = next((h for v, h in _distance_variants(kept, patch_size) if _same(got, v, tol=1e-4)), None)
            if hint is None and _counts_the_class_token(fn, patch_size):
                hint = ("the class token has no place on the grid: drop it as query and as key, attn[:, :, 1:, 1:], "
                        "then renormalise")
            hint = hint or ("distance between patch centres in pixels, weighted by each query's renormalised weights "
                            "over the patches, summed over keys, then averaged over queries and images")
            return say(False, f"got {[round(v, 3) for v in got.tolist()]} {where}, expected "
                                           f"{[round(v, 3) for v in expected.tolist()]}. Hint: {hint}.")
    return say(True, "matches the reference (class token left out, weights renormalised, Euclidean "
                                  "distance in pixels) on grids of 2x2 to 7x7 patches, 1 to 4 heads, a batch of one.")
