"""Wrong answers to 05's training step: forward, loss, zero_grad, backward, clip, optimizer step, schedule."""
import torch.nn.functional as F
from torch import nn

CHECK = "check_train_step"


def step(zero=True, clip=True, clip_after=False, sched=True, sched_first=False, opt=True, loss=F.cross_entropy,
         ret=lambda loss: loss, clip_value=None):
    def train_step(model, x, y, optimizer, scheduler, grad_clip):
        logits = model(x)
        value = loss(logits, y)
        if zero:
            optimizer.zero_grad()
        if sched and sched_first:
            scheduler.step()
        value.backward()
        if clip and not clip_after:
            nn.utils.clip_grad_norm_(model.parameters(), clip_value or grad_clip)
        if opt:
            optimizer.step()
        if clip and clip_after:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        if sched and not sched_first:
            scheduler.step()
        return ret(value)
    return train_step


def backward_twice(model, x, y, optimizer, scheduler, grad_clip):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward(retain_graph=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    scheduler.step()
    return loss


def clip_values(model, x, y, optimizer, scheduler, grad_clip):   # clips each value, not the norm
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    nn.utils.clip_grad_value_(model.parameters(), grad_clip)
    optimizer.step()
    scheduler.step()
    return loss


WRONG = [("zero_grad", (step(zero=False),)),
         ("not clipped", (step(clip=False),)),
         ("clipped after the optimizer step", (step(clip_after=True),)),
         ("schedule never moves", (step(sched=False),)),
         ("before optimizer.step()", (step(sched_first=True),)),
         ("never steps", (step(opt=False),)),
         ("nll_loss", (step(loss=F.nll_loss),)),
         ("probabilities", (step(loss=lambda z, y: F.cross_entropy(z.softmax(-1), y)),)),
         ("expected the loss", (step(ret=lambda loss: None),)),
         ("zero_grad, backward once, clip", (backward_twice,)),
         ("zero_grad, backward once, clip", (clip_values,)),
         ("zero_grad, backward once, clip", (step(clip_value=1.0),))]
