"""Checks of notebook 08_closing_the_gap: the shifted copies of SPT and the soft distillation loss."""
import functools
import inspect
import warnings

import torch
import torch.nn.functional as F

from . import core
from .core import report

# core's helpers under their current names (older versions spell them with a leading underscore)
_call = getattr(core, "call", None) or core._call
_unfinished = getattr(core, "guarded", None) or core._reports_unfinished
_NotDone = getattr(core, "NotDone", None) or core._NotDone


def _check(fn):
    """core's guard, plus: the global random state left alone and any exception turned into one FAIL line."""
    exercise_id = inspect.signature(fn).parameters["exercise"].default

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.simplefilter("ignore")          # the mistakes the check recomputes may warn (kl_div 'mean')
            try:
                return fn(*args, **kwargs)
            except _NotDone:
                raise
            except Exception as e:
                return report(kwargs.get("exercise", exercise_id), False,
                              f"the check could not run your code: {type(e).__name__}: {str(e)[:200]}. "
                              f"Hint: keep the names and the signature the exercise asks for.",
                              points=kwargs.get("points", inspect.signature(fn).parameters["points"].default))
    return _unfinished(wrapper)


def _same(a, b, tol=1e-5):
    return (torch.is_tensor(a) and a.shape == b.shape
            and torch.allclose(a.detach().double(), b.detach().double(), atol=tol, rtol=tol))


# ------------------------------------------------------------------------------------ shifted patches
def _shift(x, dx, dy):
    return F.pad(x, (dx, -dx, dy, -dy))          # right by dx, down by dy; zeros fill the gap


def _shifted(x, s):
    from ..tokenizers import SPT_SHIFTS
    return torch.cat([x] + [_shift(x, dx * s, dy * s) for dx, dy in SPT_SHIFTS], dim=1)


@_check
def check_shifted_images(fn, exercise="shifted_images", points=1):
    """fn(x (B, C, H, W), shift) -> (B, 5C, H, W): x, then x moved left-up, right-up, left-down, right-down."""
    from ..tokenizers import SPT_SHIFTS

    g = torch.Generator().manual_seed(8)
    cases = [((2, 1, 28, 28), 3), ((1, 3, 8, 12), 2), ((3, 2, 6, 5), 1), ((1, 1, 32, 32), 4)]
    for shape, s in cases:
        x = torch.rand(shape, generator=g) + 0.5                  # no zeros: a zero in the output is a filled gap
        keep = x.clone()
        expected = _shifted(x, s)
        out, err = _call(fn, x, s)
        where = f"for x of shape {shape} and shift={s}"
        if err:
            return report(exercise, False, f"{err} ({where}).", points)
        if not torch.equal(x, keep):
            return report(exercise, False, f"your function changed its input x in place ({where}). Hint: build new "
                                           f"tensors (F.pad or slicing into torch.zeros_like(x)).", points)
        if not torch.is_tensor(out) or out.shape != expected.shape:
            got = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
            B, C, H, W = shape
            hint = ("the image itself comes first, then the four shifted copies: 5C channels"
                    if torch.is_tensor(out) and out.shape[1] == 4 * C else
                    "stack along the channel axis (dim=1), keeping H x W" if torch.is_tensor(out) and out.ndim == 4
                    else "return one tensor: torch.cat([x, copy1, copy2, copy3, copy4], dim=1)")
            return report(exercise, False, f"returned {got} {where}, expected {tuple(expected.shape)}. Hint: {hint}.",
                          points)
        if _same(out, expected):
            continue
        C = shape[1]
        copies = [out[:, C * i:C * (i + 1)] for i in range(5)]
        if not _same(copies[0], x):
            return report(exercise, False, f"the first C channels are not the image itself ({where}). "
                                           f"Hint: torch.cat([x, ...shifted copies], dim=1).", points)
        rolled = torch.cat([x] + [torch.roll(x, (dy * s, dx * s), dims=(2, 3)) for dx, dy in SPT_SHIFTS], dim=1)
        if _same(out, rolled):
            return report(exercise, False, f"the shifted copies wrap around ({where}): torch.roll moves the pixels "
                                           f"that fall off one edge back in at the other. Hint: fill the gap with "
                                           f"zeros: F.pad(x, (dx, -dx, dy, -dy)) (a negative pad crops).", points)
        want = [_shift(x, dx * s, dy * s) for dx, dy in SPT_SHIFTS]
        names = ("left-up", "right-up", "left-down", "right-down")
        for i, (copy, target) in enumerate(zip(copies[1:], want)):
            if _same(copy, target):
                continue
            others = [names[j] for j, t in enumerate(want) if _same(copy, t)]
            dx, dy = SPT_SHIFTS[i]
            if others:   # another order, or the right shifts with a sign turned round (the same four copies)
                hint = (f"copy {i + 1} is the {others[0]} shift. The {names[i]} copy is the image moved {s} pixel(s) "
                        f"{'left' if dx < 0 else 'right'} and {'up' if dy < 0 else 'down'} (pixel (i, j) of the copy is "
                        f"pixel (i {'+' if dy < 0 else '-'} {s}, j {'+' if dx < 0 else '-'} {s}) of the image); the order "
                        f"is left-up, right-up, left-down, right-down")
            elif any(_same(copy, _shift(x, ex * k, ey * k)) for ex, ey in SPT_SHIFTS for k in (1, 2 * s, max(1, s // 2))
                     if k != s):
                hint = f"shift by `shift` = {s} pixels along both axes, no more, no less"
            else:
                hint = ("each copy is the whole image moved diagonally by `shift` pixels, with zeros where the "
                        "image moved away")
            return report(exercise, False, f"the {names[i]} copy (channels {C * (i + 1)} to {C * (i + 2) - 1}) "
                                           f"differs {where}. Hint: {hint}.", points)
        return report(exercise, False, f"the output differs {where}. Hint: x, then the four diagonal shifts.", points)
    return report(exercise, True, "the image and its four diagonal shifts, zeros where pixels moved away, at every "
                                  "shape and shift tried.", points)


# ------------------------------------------------------------------------------- soft distillation loss
def _soft(s, t, y, alpha, T, *, square=True, reverse=False, ce_weight=None, teacher_T=True, student_T=True,
          reduction="batchmean"):
    """The reference soft distillation loss, and the classic mistakes as switches."""
    ls = F.log_softmax(s / (T if student_T else 1), dim=1)
    lt = F.log_softmax(t / (T if teacher_T else 1), dim=1)
    kl = F.kl_div(lt, ls, reduction=reduction, log_target=True) if reverse else \
        F.kl_div(ls, lt, reduction=reduction, log_target=True)
    w = (1 - alpha) if ce_weight is None else ce_weight
    teach_w = alpha if ce_weight is None else 1 - ce_weight
    return w * F.cross_entropy(s, y) + teach_w * kl * (T * T if square else 1)


@_check
def check_distillation_loss(fn, exercise="distillation_loss", points=2):
    """fn(student_logits (B, K), teacher_logits (B, K), y (B,), alpha, temperature) -> a scalar loss."""
    g = torch.Generator().manual_seed(80)
    cases = [(8, 10, 0.5, 4.0), (1, 10, 0.3, 2.0), (5, 3, 0.7, 3.0), (16, 7, 0.9, 5.0), (4, 10, 0.5, 1.0)]
    for B, K, alpha, T in cases:
        s = torch.randn(B, K, generator=g) * 2
        t = torch.randn(B, K, generator=g) * 3
        y = torch.randint(0, K, (B,), generator=g)
        s_in, t_in = s.clone().requires_grad_(True), t.clone()
        expected = _soft(s, t, y, alpha, T)
        out, err = _call(fn, s_in, t_in, y, alpha, T)
        where = f"for B={B}, K={K}, alpha={alpha}, temperature={T}"
        if err:
            return report(exercise, False, f"{err} ({where}).", points)
        if not torch.equal(s_in.detach(), s) or not torch.equal(t_in, t):
            return report(exercise, False, f"your function changed the logits in place ({where}). Hint: compute new "
                                           f"tensors (s = s / T, not s /= T).", points)
        if not torch.is_tensor(out) or out.numel() != 1:
            got = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
            return report(exercise, False, f"returned {got} {where}; the loss is one number (a 0-d tensor). Hint: "
                                           f"average over the batch (reduction='batchmean' for F.kl_div).", points)
        if not out.requires_grad:
            return report(exercise, False, f"the loss has no gradient {where}. Hint: stay in torch (no .item(), "
                                           f"numpy or torch.no_grad() around the student's part).", points)
        if _same(out.reshape(()), expected, 1e-4):
            out.sum().backward()
            if s_in.grad is None or not torch.isfinite(s_in.grad).all():
                return report(exercise, False, f"no finite gradient reaches the student's logits ({where}).", points)
            continue
        value = out.detach().reshape(()).double()
        mistakes = [
            (dict(square=False), "multiply the KL term by temperature**2: dividing the logits by T shrinks the "
                                 "soft term's gradients by 1/T**2, and T**2 puts them back"),
            (dict(reverse=True), "KL(teacher || student): F.kl_div(log_p_student, log_p_teacher, ...) takes the "
                                 "student's log-probabilities first, the teacher's second"),
            (dict(reduction="mean"), "F.kl_div(..., reduction='mean') divides by B*K; use reduction='batchmean' "
                                     "(the sum over classes, the mean over the batch)"),
            (dict(reduction="sum"), "average the KL term over the batch (reduction='batchmean'), not the sum"),
            (dict(ce_weight=alpha), "the weights are swapped: (1 - alpha) * cross-entropy + alpha * the teacher's term"),
            (dict(teacher_T=False), "soften the teacher's logits too: softmax(teacher_logits / T)"),
            (dict(student_T=False), "soften the student's logits too: log_softmax(student_logits / T)"),
        ]
        for switches, hint in mistakes:
            if T == 1.0 and ("teacher_T" in switches or "student_T" in switches or "square" in switches):
                continue
            if torch.isclose(value, _soft(s, t, y, alpha, T, **switches).double(), atol=1e-4, rtol=1e-4):
                return report(exercise, False, f"got {value.item():.5f} {where}, expected {expected.item():.5f}. "
                                               f"Hint: {hint}.", points)
        # the KL divergence fed probabilities instead of log-probabilities
        probs = F.kl_div(F.softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean") * T * T
        if torch.isclose(value, ((1 - alpha) * F.cross_entropy(s, y) + alpha * probs).double(), atol=1e-4):
            hint = ("F.kl_div wants log-probabilities as its first argument: F.log_softmax(student_logits / T, dim=1) "
                    "(and log_target=True with log-probabilities of the teacher, or plain probabilities without it)")
        elif torch.isclose(value, ((1 - alpha) * F.cross_entropy(s, y)
                                   + alpha * F.cross_entropy(s, t.argmax(1))).double(), atol=1e-4):
            hint = "that is hard distillation (the teacher's top class); this exercise asks for its soft probabilities"
        else:
            hint = ("loss = (1 - alpha) * CE(student, y) + alpha * T**2 * KL(softmax(teacher / T) || "
                    "softmax(student / T)), the KL averaged over the batch")
        return report(exercise, False, f"got {value.item():.5f} {where}, expected {expected.item():.5f}. Hint: {hint}.",
                      points)
    return report(exercise, True, "soft distillation loss as the reference at every batch size, number of classes, "
                                  "alpha and temperature tried; gradients reach the student.", points)
