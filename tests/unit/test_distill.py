"""Distillation loss against a hand computation, and as a loss_fn for fit."""
import math

import pytest
import torch
import torch.nn.functional as F

from course_utils.data import ImageData
from course_utils.distill import distillation_loss, distillation_loss_fn
from course_utils.models import build_model
from course_utils.train import fit


def by_hand(s, t, y, alpha, T, hard):
    """Sums over plain Python floats: the formula as written on paper."""
    total = 0.0
    B, K = len(y), len(s[0])
    for i in range(B):
        ps = [math.exp(v) / sum(math.exp(u) for u in s[i]) for v in s[i]]
        ce = -math.log(ps[y[i]])
        if hard:
            top = max(range(K), key=lambda k: t[i][k])
            teach = -math.log(ps[top])
        else:
            qs = [math.exp(v / T) / sum(math.exp(u / T) for u in s[i]) for v in s[i]]
            pt = [math.exp(v / T) / sum(math.exp(u / T) for u in t[i]) for v in t[i]]
            teach = T * T * sum(p * math.log(p / q) for p, q in zip(pt, qs))
        total += (1 - alpha) * ce + alpha * teach
    return total / B


@pytest.mark.parametrize("alpha,T,hard", [(0.5, 1.0, False), (0.3, 4.0, False), (1.0, 2.0, False),
                                          (0.5, 1.0, True), (0.9, 3.0, True), (0.0, 2.0, False)])
def test_distillation_loss_by_hand(alpha, T, hard):
    s = [[1.0, -0.5, 2.0], [0.3, 0.2, -1.0], [-2.0, 0.0, 0.5], [0.0, 0.0, 0.0]]
    t = [[2.0, 0.5, 1.0], [-1.0, 3.0, 0.0], [0.1, 0.2, 0.3], [5.0, -5.0, 0.0]]
    y = [2, 0, 1, 0]
    got = distillation_loss(torch.tensor(s), torch.tensor(t), torch.tensor(y), alpha=alpha, temperature=T, hard=hard)
    assert got.ndim == 0
    assert math.isclose(got.item(), by_hand(s, t, y, alpha, T, hard), rel_tol=1e-5, abs_tol=1e-6)


def test_special_cases():
    torch.manual_seed(0)
    s, t, y = torch.randn(8, 10), torch.randn(8, 10), torch.randint(0, 10, (8,))
    ce = F.cross_entropy(s, y)
    assert torch.allclose(distillation_loss(s, t, y, alpha=0.0), ce)
    # a teacher that agrees with itself: the soft term is zero
    assert torch.allclose(distillation_loss(t, t, y, alpha=1.0, temperature=3.0), torch.zeros(()), atol=1e-6)
    # hard targets equal to the labels: plain cross-entropy
    onehot = F.one_hot(y, 10).float() * 10
    assert torch.allclose(distillation_loss(s, onehot, y, alpha=0.7, hard=True), ce)


def test_gradient_reaches_the_student_only():
    s = torch.randn(4, 5, requires_grad=True)
    t = torch.randn(4, 5, requires_grad=True)
    distillation_loss(s, t, torch.tensor([0, 1, 2, 3]), alpha=0.5, temperature=2.0).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None


def test_loss_fn_trains_a_student_with_fit():
    torch.manual_seed(0)
    images = (torch.rand(64, 1, 28, 28) * 255).to(torch.uint8)
    data = ImageData(images, torch.randint(0, 10, (64,)), "mnist", tuple("0123456789"), (0.13,), (0.31,))
    teacher = build_model("cnn", width=4)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student = build_model("vit", embed_dim=16, depth=1, num_heads=2)
    loss_fn = distillation_loss_fn(teacher, alpha=0.5, temperature=2.0)
    assert loss_fn.settings == {"alpha": 0.5, "temperature": 2.0, "hard": False}
    history = fit(student, data, epochs=2, batch_size=32, loss_fn=loss_fn, progress=False, device="cpu")
    assert len(history["train_loss"]) == 2 and all(math.isfinite(v) for v in history["train_loss"])
    after = teacher.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)     # the teacher is left as it was (BN too)
    assert not teacher.training


def test_the_teacher_follows_the_data_to_its_device():
    # fit moves the student and the data to the GPU; a teacher built on the CPU must follow (it once did not, and
    # every distilled run on a GPU stopped with "Input type (torch.cuda.FloatTensor) and weight type ... should be the
    # same"). The meta device stands in for the GPU here: same check, no GPU needed.
    teacher = build_model("cnn", width=4)
    loss_fn = distillation_loss_fn(teacher, hard=True)
    x, y = torch.randn(3, 1, 28, 28, device="meta"), torch.zeros(3, dtype=torch.long, device="meta")
    loss = loss_fn(torch.randn(3, 10, device="meta"), y, x)
    assert loss.device.type == "meta" and loss.shape == ()
    assert {p.device.type for p in teacher.parameters()} == {"meta"}
