"""One training loop for every model (notebook 05_training).

`train_step` is the lesson: one batch through forward, loss, backward, clipping, the optimizer and the
schedule. `fit(model, train, val, cfg)` is the loop around it: set-up, resume, epochs, evaluation,
checkpoints. It returns a plain history (dict of lists); plotting lives in `plots`. `evaluate` gives
loss, accuracy, macro-F1 and the confusion matrix.

What is not here, so the loop stays readable: the seed, the device and mixed precision (`runtime`), the
speed options (`speed`: torch.compile, channels-last, fused optimizer), and saving/loading (`checkpoints`).
"""
import math
import os
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .checkpoints import CheckpointError, atomic_save, changed_settings, load_checkpoint, load_model_state, load_weights
from .runtime import amp_settings, grad_scaler, pick_device, seed_everything
from .speed import StepModel, resolve_compile

__all__ = ["TrainConfig", "train_step", "fit", "evaluate", "EvalResult", "make_optimizer", "warmup_cosine",
           "steps_per_epoch", "seed_everything", "pick_device", "amp_settings", "load_weights", "CheckpointError"]


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Defaults: the recipe measured on MNIST (ViT 98.1% in 10 epochs on an H100)."""
    epochs: int = 10
    batch_size: int = 512          # images per step; large batches keep a GPU busy
    lr: float = 2e-3               # peak learning rate, reached after warm-up
    weight_decay: float = 0.05     # AdamW's decoupled decay: each step multiplies weights by (1 - lr * wd)
    optimizer: str = "adamw"       # "adamw" or "sgd" (momentum 0.9, nesterov)
    warmup_fraction: float = 0.1   # share of all steps spent ramping the lr up from ~0
    label_smoothing: float = 0.0
    grad_clip: float = 1.0         # max gradient norm; 0 turns clipping off
    augment: bool = False          # the data set's default augmentation (data.default_augmentation)
    seed: int = 0                  # shuffling, augmentation and dropout
    eval_batch_size: int = 1024

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs} and {self.batch_size}.")
        if self.optimizer not in ("adamw", "sgd"):
            raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {self.optimizer!r}.")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}.")


def make_optimizer(model, cfg, *, fused=False):
    """AdamW (or SGD) with weight decay on weights only: not on biases, norms, tokens or positions.

    fused=True updates every parameter in one kernel (same maths, fewer kernel launches: a GPU win).
    """
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 and "pos_embed" not in name and "cls_token" not in name else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    extra = {"fused": True} if fused else {}   # left out when off: older torch versions know no `fused`
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True, **extra)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.999), **extra)


def warmup_cosine(total_steps, warmup_fraction):
    """lr multiplier per step: linear from ~0 to 1 over the warm-up, then cosine down to 0."""
    warmup = max(1, int(total_steps * warmup_fraction))

    def factor(step):
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def steps_per_epoch(train_size, batch_size):
    """Optimizer steps in one epoch of `fit`. A last batch of ONE image is dropped (BatchNorm cannot
    train on a batch of one); any other partial last batch is a step of its own."""
    batch = min(batch_size, train_size)
    return train_size // batch if train_size % batch == 1 else math.ceil(train_size / batch)


def train_step(model, x, y, optimizer, scheduler, scaler, *, amp_dtype=None, grad_clip=1.0, label_smoothing=0.0,
               loss_fn=None):
    """One optimizer step on one batch (B, C, H, W), (B,); returns (loss, logits (B, K)), detached.

    loss_fn(logits, y, x) replaces the cross-entropy when given (e.g. distillation from a teacher, notebook 08).
    """
    with torch.autocast(x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        logits = model(x)                                   # (B, K)
        if loss_fn is None:
            loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
        else:
            loss = loss_fn(logits.float(), y, x)
    optimizer.zero_grad(set_to_none=True)                   # gradients from the last step are gone
    scaler.scale(loss).backward()                           # d loss / d every parameter (scaled for fp16)
    if grad_clip:
        scaler.unscale_(optimizer)                          # clip the true gradients, not the scaled ones
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)                                  # the AdamW update (skipped if fp16 overflowed)
    scaler.update()
    scheduler.step()                                        # next step's learning rate
    return loss.detach(), logits.detach()


def new_history():
    return {k: [] for k in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time", "images_per_s")}


def fit(model, train, val=None, cfg=None, *, device=None, checkpoint=None, progress=True, on_epoch_end=None,
        loss_fn=None, compile=False, channels_last=False, fused_optimizer=False, **overrides):
    """Train `model` on `train` (an ImageData); return the per-epoch history (dict of lists).

    cfg: a TrainConfig; keyword overrides (epochs=3, lr=1e-3, ...) replace its fields.
    device: where to train (default: the GPU if there is one). The data moves there once.
    checkpoint: a file path, saved after every epoch; if it exists, training resumes from it.
    on_epoch_end: called as on_epoch_end(epoch, history) after each epoch (e.g. to plot live).
    loss_fn: loss_fn(logits, y, x) in place of the cross-entropy (see train_step).
    compile, channels_last, fused_optimizer: speed options that leave the recipe alone (see `speed`).
    """
    cfg = TrainConfig(**{**(asdict(cfg) if cfg else {}), **overrides})
    device = torch.device(device) if device is not None else pick_device()
    model.to(device, memory_format=torch.channels_last) if channels_last else model.to(device)
    train = train.to(device)
    val = val.to(device) if val is not None else None
    batch_size = min(cfg.batch_size, len(train))
    total_steps = cfg.epochs * steps_per_epoch(len(train), batch_size)
    amp_dtype, use_scaler = amp_settings(device)
    optimizer = make_optimizer(model, cfg, fused=fused_optimizer)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total_steps, cfg.warmup_fraction))
    scaler = grad_scaler(device, enabled=use_scaler)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)  # shuffling and augmentation
    torch.manual_seed(cfg.seed)                                  # dropout
    augment = _augmentation(train) if cfg.augment else None
    step_model = StepModel(model, resolve_compile(compile, device), batch_size)
    history, start_epoch = new_history(), 0
    if checkpoint is not None and os.path.exists(checkpoint):
        history, start_epoch = _resume(checkpoint, cfg, model, optimizer, scheduler, scaler, gen)

    bar = tqdm(total=total_steps, initial=start_epoch * total_steps // cfg.epochs, disable=not progress,
               desc=type(model).__name__, unit="step", dynamic_ncols=True)
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        t0, loss_sum, correct, seen = time.perf_counter(), torch.zeros((), device=device), 0, 0
        for x, y in train.batches(batch_size, shuffle=True, augment=augment, generator=gen,
                                  drop_last=len(train) % batch_size == 1):
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            loss, logits = train_step(step_model, x, y, optimizer, scheduler, scaler, amp_dtype=amp_dtype,
                                      grad_clip=cfg.grad_clip, label_smoothing=cfg.label_smoothing, loss_fn=loss_fn)
            loss_sum += loss * len(y)
            correct += (logits.argmax(1) == y).sum()
            seen += len(y)
            bar.update(1)
        _log_epoch(history, epoch, loss_sum.item() / seen, int(correct) / seen, scheduler, seen,
                   time.perf_counter() - t0, model, val, cfg, device)
        bar.set_postfix({k: f"{history[k][-1]:.4f}" for k in ("train_loss", "train_acc", "val_acc") if history[k]})
        if checkpoint is not None:
            atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                         "generator": gen.get_state(), "torch_rng": torch.get_rng_state(), "history": history,
                         "epoch": epoch + 1, "train_config": asdict(cfg), "model_class": type(model).__name__},
                        checkpoint)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, history)
    bar.close()
    if channels_last:
        model.to(memory_format=torch.contiguous_format)  # hand the model back in the usual layout
    return history


def _augmentation(train):
    from .data import default_augmentation
    return default_augmentation(train.name)


def _resume(checkpoint, cfg, model, optimizer, scheduler, scaler, gen):
    """Load a checkpoint of `fit` into the run's objects; return (history, epochs done)."""
    state = load_checkpoint(checkpoint)
    if state.get("train_config") != asdict(cfg):
        raise CheckpointError(
            f"Checkpoint {os.fspath(checkpoint)!r} was made with other training settings (saved vs now: "
            f"{changed_settings(state.get('train_config'), asdict(cfg))}). Delete it to start over, or pass "
            f"another checkpoint path.")
    load_model_state(model, state["model"], checkpoint)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    gen.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    return state["history"], state["epoch"]


def _log_epoch(history, epoch, train_loss, train_acc, scheduler, seen, elapsed, model, val, cfg, device):
    """Append one epoch's numbers (and the validation result, if there is a validation set) to the history."""
    history["epoch"].append(epoch + 1)
    history["train_loss"].append(train_loss)
    history["train_acc"].append(train_acc)
    history["lr"].append(scheduler.get_last_lr()[0])
    history["epoch_time"].append(elapsed)
    history["images_per_s"].append(seen / elapsed)
    if val is not None:
        result = evaluate(model, val, batch_size=cfg.eval_batch_size, device=device)
        history["val_loss"].append(result.loss)
        history["val_acc"].append(result.accuracy)


@dataclass
class EvalResult:
    """What `evaluate` measures. float(result) is the accuracy."""
    loss: float
    accuracy: float
    macro_f1: float
    confusion: np.ndarray      # (K, K): row = true class, column = predicted
    predictions: torch.Tensor  # (N,) predicted class per image, on the CPU

    def __float__(self):
        return self.accuracy

    def __repr__(self):
        return f"EvalResult(accuracy={self.accuracy:.4f}, macro_f1={self.macro_f1:.4f}, loss={self.loss:.4f})"


@torch.no_grad()
def evaluate(model, data, *, batch_size=1024, device=None):
    """Loss, accuracy, macro-F1 and confusion matrix of `model` on an ImageData set."""
    from sklearn.metrics import confusion_matrix, f1_score

    device = torch.device(device) if device is not None else next(model.parameters()).device
    data = data.to(device)
    amp_dtype, _ = amp_settings(device)
    was_training = model.training
    model.eval()
    loss_sum, preds = torch.zeros((), device=device), []
    for x, y in data.batches(batch_size):
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(x)
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
        preds.append(logits.argmax(1))
    model.train(was_training)
    pred = torch.cat(preds).cpu()
    true = data.labels.cpu()
    K = data.num_classes
    return EvalResult(
        loss=loss_sum.item() / len(data),
        accuracy=(pred == true).float().mean().item(),
        macro_f1=float(f1_score(true, pred, average="macro", labels=list(range(K)), zero_division=0)),
        confusion=confusion_matrix(true, pred, labels=list(range(K))),
        predictions=pred,
    )
