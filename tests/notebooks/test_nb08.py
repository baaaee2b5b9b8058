"""Checks of notebook 08: each passes the reference (and correct alternatives) and fails every classic mistake
with its own hint; they never crash, and they leave the global random state alone."""
import pytest
import torch
import torch.nn.functional as F

from course_utils.checks.nb08_gap import check_distillation_loss, check_shifted_images
from course_utils.distill import distillation_loss
from course_utils.tokenizers import ShiftedPatchTokenizer


def run(check, fn, capsys):
    before = torch.get_rng_state()
    result = check(fn)
    line = capsys.readouterr().out.strip()
    assert torch.equal(torch.get_rng_state(), before)
    assert len(line.splitlines()) == 1, line
    return result, line


# --- SPT's shifted copies ---------------------------------------------------------------------------------
ORDER = ((-1, -1), (1, -1), (-1, 1), (1, 1))


def shifted(order=ORDER, roll=False, sign=1, first=True, factor=1, dim=1):
    def fn(x, s):
        s = s * factor
        copies = [torch.roll(x, (dy * s, dx * s), dims=(2, 3)) if roll else F.pad(x, (sign * dx * s, -sign * dx * s,
                                                                                         sign * dy * s, -sign * dy * s))
                  for dx, dy in order]
        return torch.cat(([x] if first else []) + copies, dim=dim)
    return fn


def by_slicing(x, s):
    """A correct alternative: slices into zeros."""
    out = [x]
    for dx, dy in ORDER:
        c = torch.zeros_like(x)
        H, W = x.shape[-2:]
        c[..., max(dy * s, 0):H + min(dy * s, 0), max(dx * s, 0):W + min(dx * s, 0)] = \
            x[..., max(-dy * s, 0):H + min(-dy * s, 0), max(-dx * s, 0):W + min(-dx * s, 0)]
        out.append(c)
    return torch.cat(out, 1)


def in_place(x, s):
    out = shifted()(x, s)
    x.zero_()
    return out


def not_done(x, s):
    raise NotImplementedError()


@pytest.mark.parametrize("fn", [shifted(), by_slicing,
                                lambda x, s: ShiftedPatchTokenizer(image_size=x.shape[-1], patch_size=1, in_channels=x.shape[1],
                                                                   shift=s).shifted_images(x)],
                         ids=["pad", "slicing", "library"])
def test_shifted_images_accepts_correct(fn, capsys):
    if fn.__name__ == "<lambda>":
        fn = lambda x, s: torch.cat([x] + [F.pad(x, (dx * s, -dx * s, dy * s, -dy * s)) for dx, dy in ORDER], 1)  # noqa: E731
    result, line = run(check_shifted_images, fn, capsys)
    assert result.passed and line.startswith("✅ PASS [shifted_images]"), line


@pytest.mark.parametrize("fn,hint", [
    (shifted(roll=True), "wrap around"),
    (shifted(order=ORDER[::-1]), "the order is left-up, right-up"),
    (shifted(sign=-1), "moved 3 pixel(s) left and up"),
    (shifted(first=False), "the image itself comes first"),
    (shifted(factor=2), "shift by `shift`"),
    (shifted(dim=0), "expected (2, 5"),
    (in_place, "in place"),
    (lambda x, s: x, "expected"),
    (lambda x, s: 1 / 0, "ZeroDivisionError"),
    (lambda x, s: "not a tensor", "return one tensor"),
])
def test_shifted_images_hints(fn, hint, capsys):
    result, line = run(check_shifted_images, fn, capsys)
    assert not result.passed and line.startswith("❌ FAIL [shifted_images]") and hint in line, line


def test_unfinished_is_reported_then_raised(capsys):
    with pytest.raises(NotImplementedError):
        check_shifted_images(not_done)
    assert "not implemented yet" in capsys.readouterr().out


# --- soft distillation loss ----------------------------------------------------------------------------------
def soft(student, teacher, y, alpha, T):
    return distillation_loss(student, teacher, y, alpha=alpha, temperature=T)


def by_hand(student, teacher, y, alpha, T):
    """A correct alternative: the KL divergence written out."""
    p_t = F.softmax(teacher / T, 1)
    kl = (p_t * (torch.log(p_t) - F.log_softmax(student / T, 1))).sum(1).mean()
    return (1 - alpha) * F.cross_entropy(student, y) + alpha * T ** 2 * kl


def kl(student, teacher, T, **kw):
    return F.kl_div(F.log_softmax(student / T, 1), F.softmax(teacher / T, 1), **kw)


def mix(alpha, ce, term):
    return (1 - alpha) * ce + alpha * term


WRONG = [
    (lambda s, t, y, a, T: mix(a, F.cross_entropy(s, y), kl(s, t, T, reduction="batchmean")), "temperature**2"),
    (lambda s, t, y, a, T: mix(a, F.cross_entropy(s, y), T * T * F.kl_div(F.log_softmax(t / T, 1), F.softmax(s / T, 1),
                                                                         reduction="batchmean")), "KL(teacher || student)"),
    (lambda s, t, y, a, T: mix(a, F.cross_entropy(s, y), T * T * kl(s, t, T, reduction="mean")), "batchmean"),
    (lambda s, t, y, a, T: mix(a, F.cross_entropy(s, y), T * T * kl(s, t, T, reduction="sum")), "not the sum"),
    (lambda s, t, y, a, T: a * F.cross_entropy(s, y) + (1 - a) * T * T * kl(s, t, T, reduction="batchmean"), "swapped"),
    (lambda s, t, y, a, T: mix(a, F.cross_entropy(s, y), T * T * F.kl_div(F.log_softmax(s / T, 1), F.softmax(t, 1),
                                                                         reduction="batchmean")), "teacher's logits too"),
    (lambda s, t, y, a, T: mix(a, F.cross_entropy(s, y), T * T * F.kl_div(F.log_softmax(s, 1), F.softmax(t / T, 1),
                                                                         reduction="batchmean")), "student's logits too"),
    (lambda s, t, y, a, T: mix(a, F.cross_entropy(s, y), T * T * F.kl_div(F.softmax(s / T, 1), F.softmax(t / T, 1),
                                                                         reduction="batchmean")), "log-probabilities"),
    (lambda s, t, y, a, T: distillation_loss(s, t, y, alpha=a, hard=True), "hard distillation"),
    (lambda s, t, y, a, T: F.cross_entropy(s, y), "Hint: loss = (1 - alpha)"),
    (lambda s, t, y, a, T: torch.tensor(float(soft(s, t, y, a, T))), "no gradient"),
    (lambda s, t, y, a, T: F.cross_entropy(s, y, reduction="none"), "one number"),
    (lambda s, t, y, a, T: s.div_(T).sum(), "in place"),
    (lambda s, t, y, a, T: soft(s, t, y.float(), a, T), "raised"),
]


@pytest.mark.parametrize("fn", [soft, by_hand], ids=["library", "by_hand"])
def test_distillation_loss_accepts_correct(fn, capsys):
    result, line = run(check_distillation_loss, fn, capsys)
    assert result.passed and result.points == 2 and line.startswith("✅ PASS [distillation_loss]"), line


@pytest.mark.parametrize("fn,hint", WRONG, ids=[h for _, h in WRONG])
def test_distillation_loss_hints(fn, hint, capsys):
    result, line = run(check_distillation_loss, fn, capsys)
    assert not result.passed and line.startswith("❌ FAIL [distillation_loss]") and hint in line, line
