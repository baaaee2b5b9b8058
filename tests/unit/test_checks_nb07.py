"""Notebook 07's checks: the reference passes, each classic mistake fails with its own hint."""
import pytest
import torch

from course_utils import analysis, checks


def rollout_variant(residual="half", order="left", heads="mean", product="matmul", layers="all", per_head=False,
                    inplace=False):
    def rollout(maps):
        out = None
        chosen = {"all": maps, "last": maps[-1:], "first": maps[:1]}[layers]
        for a in chosen:
            if inplace:
                a.mul_(0.5)
                a = a * 2
            if per_head:
                a = 0.5 * a + 0.5 * torch.eye(a.shape[-1])                 # (B, h, N, N), heads kept
            else:
                a = {"mean": a.mean(1), "max": a.amax(1), "sum": a.sum(1)}[heads]
                eye = torch.eye(a.shape[-1])
                a = {"half": 0.5 * a + 0.5 * eye, "none": a, "plus": a + eye}[residual]
            if out is None:
                out = a
            elif product == "elementwise":
                out = out * a
            else:
                out = a @ out if order == "left" else out @ a
        return out.mean(1) if per_head else out
    return rollout


@pytest.mark.parametrize("wrong, hint", [
    (rollout_variant(residual="none"), "the residual is missing"),
    (rollout_variant(residual="plus"), "rows that sum to 2"),
    (rollout_variant(order="right"), "order of the product is reversed"),
    (rollout_variant(heads="max"), "not the maximum"),
    (rollout_variant(heads="sum"), "rather than summing"),
    (rollout_variant(per_head=True), "before multiplying"),
    (rollout_variant(product="elementwise"), "not element by element"),
    (rollout_variant(layers="last"), "only the last layer"),
    (rollout_variant(layers="first"), "only the first layer"),
    (rollout_variant(inplace=True), "changed the attention maps"),
    (lambda maps: analysis.attention_rollout(maps)[:, 0], "return the whole (B, N, N)"),
    (lambda maps: torch.stack(maps).mean(0), "average over the heads"),
    (lambda maps: analysis.attention_rollout(maps).mean(0), "keep the batch axis"),
    (lambda maps: maps.mean(1), "Python list"),
    (lambda maps: [a.mean(1) for a in maps], "multiply the layers' matrices into one"),
])
def test_check_attention_rollout_names_the_mistake(capsys, wrong, hint):
    result = checks.check_attention_rollout(wrong)
    assert not result.passed and hint in result.message, result.message
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("❌ FAIL [attention_rollout]")


def test_check_attention_rollout_passes_the_reference_and_alternatives():
    assert checks.check_attention_rollout(analysis.attention_rollout).passed
    assert checks.check_attention_rollout(rollout_variant()).passed
    # renormalising the rows is a correct alternative (they already sum to 1)
    def renormalised(maps):
        out = torch.eye(maps[0].shape[-1]).expand(maps[0].shape[0], -1, -1)
        for a in maps:
            a = a.mean(1) + torch.eye(a.shape[-1])
            out = (a / a.sum(-1, keepdim=True)) @ out
        return out.double()
    assert checks.check_attention_rollout(renormalised).passed


def mad_variant(drop_cls=True, renorm=True, unit="pixels", metric="euclid", reduce="heads"):
    def mad(attn, patch_size):
        a = attn[:, :, 1:, 1:] if drop_cls else attn
        if renorm:
            a = a / a.sum(-1, keepdim=True)
        n = a.shape[-1]
        g = int(n ** 0.5)
        r, c = torch.div(torch.arange(n), g, rounding_mode="floor"), torch.arange(n) % g
        dr, dc = r[:, None] - r[None], c[:, None] - c[None]
        d = (dr.abs() + dc.abs()).float() if metric == "manhattan" else (dr ** 2 + dc ** 2).float().sqrt()
        if unit == "pixels":
            d = d * patch_size
        if metric == "squared":
            d = d ** 2
        per_query = (a * d).sum(-1)                                  # (B, h, N)
        return {"heads": per_query.mean((0, 2)), "all": per_query.mean(), "batch": per_query.mean(2)}[reduce]
    return mad


@pytest.mark.parametrize("wrong, hint", [
    (mad_variant(renorm=False), "renormalise each query's weights"),
    (mad_variant(unit="patches"), "multiply by patch_size"),
    (mad_variant(metric="manhattan"), "city-block"),
    (mad_variant(metric="squared"), "mean squared distance"),
    (mad_variant(reduce="all"), "one distance per head"),
    (mad_variant(reduce="batch"), "average over the images too"),
    (mad_variant(drop_cls=False), "class token has no place on the grid"),
    (lambda attn, P: analysis.mean_attention_distance(attn.div_(2), P), "changed the attention"),
])
def test_check_mean_attention_distance_names_the_mistake(capsys, wrong, hint):
    result = checks.check_mean_attention_distance(wrong)
    assert not result.passed and hint in result.message, result.message
    assert capsys.readouterr().out.startswith("❌ FAIL [mean_attention_distance]")


def test_check_mean_attention_distance_passes_and_leaves_the_rng_alone():
    torch.manual_seed(5)
    before = torch.get_rng_state()
    assert checks.check_mean_attention_distance(analysis.mean_attention_distance).passed
    assert checks.check_mean_attention_distance(mad_variant()).passed
    assert checks.check_mean_attention_distance(lambda a, P: mad_variant()(a, P).numpy()).passed   # numpy is fine
    def draws(attn, P):
        torch.rand(3)                                                 # student code that uses the global RNG
        return analysis.mean_attention_distance(attn, P)
    assert checks.check_attention_rollout(lambda maps: torch.rand(1) * 0 + analysis.attention_rollout(maps)).passed
    assert checks.check_mean_attention_distance(draws).passed
    assert torch.equal(torch.get_rng_state(), before)


def test_unfinished_exercises_fail_and_stop(capsys):
    def unfinished(*args):
        raise NotImplementedError()
    for check in (checks.check_attention_rollout, checks.check_mean_attention_distance):
        with pytest.raises(NotImplementedError):
            check(unfinished)
        assert "not implemented yet" in capsys.readouterr().out
