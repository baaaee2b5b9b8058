"""Distillation: a trained CNN teaches the ViT (notebook 08).

The teacher's predictions carry what its convolutions assume about images; a student trained to agree
with them inherits some of that bias without any change to its architecture (Touvron et al. 2021, DeiT).

- soft targets (Hinton et al. 2015): match the teacher's softened class probabilities,
  loss = (1 - alpha) * CE(student, y) + alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T));
  the T^2 keeps the soft term's gradients the same size whatever the temperature T.
- hard targets (DeiT's "hard distillation"): the teacher's top class as a second label,
  loss = (1 - alpha) * CE(student, y) + alpha * CE(student, argmax teacher).

`distillation_loss_fn(teacher)` wraps either into a `loss_fn(logits, y, x)` for `train.fit(..., loss_fn=...)`:
the teacher sees the same (augmented) batch as the student, in eval mode and without gradients.
Left out: DeiT's separate distillation token (one more token, one more head).
"""
import torch
import torch.nn.functional as F


def distillation_loss(student_logits, teacher_logits, y, *, alpha=0.5, temperature=1.0, hard=False):
    """Cross-entropy on the labels mixed with agreement with a teacher; a scalar.

    Args:
        student_logits, teacher_logits: (B, K). y: (B,) true labels.
        alpha: weight of the teacher's term (0: plain cross-entropy, 1: the teacher only).
        temperature: T of the soft targets (ignored when hard=True).
        hard: use the teacher's argmax as a label instead of its probabilities.
    """
    ce = F.cross_entropy(student_logits, y)
    teacher_logits = teacher_logits.detach()                   # the teacher is not trained
    if hard:
        teach = F.cross_entropy(student_logits, teacher_logits.argmax(dim=1))
    else:
        T = temperature
        log_p_student = F.log_softmax(student_logits / T, dim=1)    # (B, K)
        log_p_teacher = F.log_softmax(teacher_logits / T, dim=1)    # (B, K)
        # KL(teacher || student), averaged over the batch; log_target avoids log(0) for confident teachers
        teach = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True) * T * T
    return (1 - alpha) * ce + alpha * teach


def distillation_loss_fn(teacher, *, alpha=0.5, temperature=1.0, hard=False):
    """A loss_fn(logits, y, x) for train.fit: the teacher's logits on x, then distillation_loss."""
    teacher.eval()                                             # BatchNorm uses its running statistics
    for p in teacher.parameters():
        p.requires_grad_(False)

    def loss_fn(logits, y, x):
        if next(teacher.parameters()).device != x.device:      # fit moved the student and the data: follow them
            teacher.to(x.device)
        with torch.no_grad():
            teacher_logits = teacher(x).float()                # (B, K)
        return distillation_loss(logits, teacher_logits, y, alpha=alpha, temperature=temperature, hard=hard)

    loss_fn.settings = {"alpha": alpha, "temperature": temperature, "hard": hard}   # for the run's record
    return loss_fn
