"""One training loop for every model (notebook 05_training).

`fit(model, train, val, cfg)` trains any model of the course contract (images -> logits) with AdamW
(or SGD), linear warm-up then cosine decay per step, mixed precision where the GPU has it, a tqdm
progress bar, and a checkpoint after every epoch that a rerun resumes from. It returns a plain
history (dict of lists); plotting lives in `plots`. `evaluate` gives loss, accuracy, macro-F1 and
the confusion matrix.

Mixed precision: bf16 autocast on GPUs with native bf16 (compute capability >= 8.0: A100, H100, RTX 30xx+);
fp16 autocast with a GradScaler below that (a Colab T4 is 7.5: `torch.cuda.is_bf16_supported()` may say
True there, but bf16 is emulated and slow); plain fp32 on the CPU.
"""
import math
import os
import random
import time
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm


def seed_everything(seed=0):
    """Seed Python, NumPy and PyTorch (CPU and CUDA) so a rerun gives the same numbers on the same device."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def pick_device():
    """"cuda" when a GPU is available, else "cpu"."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def amp_settings(device):
    """(autocast dtype or None, whether to use a GradScaler) for a device.

    bf16 only where the GPU does it natively (capability >= 8.0); fp16 + GradScaler on older GPUs (T4);
    None on the CPU (fp32: CPU autocast is slower than fp32 for these small models).
    """
    device = torch.device(device)
    if device.type != "cuda":
        return None, False
    major, _ = torch.cuda.get_device_capability(device)
    if major >= 8:
        return torch.bfloat16, False
    return torch.float16, True


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Defaults: the recipe measured on MNIST (ViT 98.1% in 10 epochs on an H100)."""
    epochs: int = 10
    batch_size: int = 512          # images per step; large batches keep a GPU busy
    lr: float = 2e-3               # peak learning rate, reached after warm-up
    weight_decay: float = 0.05     # AdamW's decoupled decay
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


def make_optimizer(model, cfg):
    """AdamW (or SGD) with weight decay on weights only: not on biases, norms, tokens or positions."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 and "pos_embed" not in name and "cls_token" not in name else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.999))


def warmup_cosine(total_steps, warmup_fraction):
    """lr multiplier per step: linear from ~0 to 1 over the warm-up, then cosine down to 0."""
    warmup = max(1, int(total_steps * warmup_fraction))

    def factor(step):
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read, or that belongs to another model or training setup."""


def save_checkpoint(path, state):
    """Write atomically: a crash mid-write leaves the previous checkpoint intact."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, map_location="cpu"):
    """Load a checkpoint safely (weights_only=True), with a clear error if it is corrupt."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:
        raise CheckpointError(
            f"Could not read checkpoint {os.fspath(path)!r}: it is corrupt or incomplete "
            f"({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}). "
            f"Delete the file to train this run from the start."
        ) from e


def load_weights(model, path):
    """Load the model weights of a checkpoint written by `fit` (or a plain state_dict) into `model`."""
    state = load_checkpoint(path)
    weights = state.get("model", state)
    _load_model_state(model, weights, path)
    return model


def _load_model_state(model, weights, path):
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        raise CheckpointError(
            f"Checkpoint {os.fspath(path)!r} holds weights for a different model "
            f"({str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else e}). "
            f"Build the model it was saved from, or delete the file / pass another checkpoint path."
        ) from e


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
    data = data.to(device) if data.device != device else data
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


def new_history():
    return {k: [] for k in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time", "images_per_s")}


def fit(model, train, val=None, cfg=None, *, device=None, checkpoint=None, progress=True, on_epoch_end=None, **overrides):
    """Train `model` on `train` (an ImageData); return the per-epoch history (dict of lists).

    Args:
        cfg: a TrainConfig; keyword overrides (epochs=3, lr=1e-3, ...) replace its fields.
        device: where to train (default: the GPU if there is one). The data moves there once.
        checkpoint: a file path. Saved after every epoch; if it exists, training resumes from it
            (a finished run returns its history at once), so a rerun after a disconnect continues.
        on_epoch_end: called as on_epoch_end(epoch, history) after each epoch (e.g. to plot live).
    """
    cfg = TrainConfig(**{**(asdict(cfg) if cfg else {}), **overrides})
    device = torch.device(device) if device is not None else pick_device()
    model.to(device)
    train = train.to(device) if train.device != device else train
    if val is not None and val.device != device:
        val = val.to(device)
    amp_dtype, use_scaler = amp_settings(device)
    batch_size = min(cfg.batch_size, len(train))
    drop_last = len(train) % batch_size == 1    # never a batch of one image (BatchNorm cannot train on it)
    steps_per_epoch = len(train) // batch_size if drop_last else math.ceil(len(train) / batch_size)
    total_steps = cfg.epochs * steps_per_epoch

    optimizer = make_optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total_steps, cfg.warmup_fraction))
    scaler = torch.amp.GradScaler(device.type, enabled=use_scaler)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)  # shuffling and augmentation
    torch.manual_seed(cfg.seed)                                  # dropout
    augment = None
    if cfg.augment:
        from .data import default_augmentation
        augment = default_augmentation(train.name)
    history, start_epoch = new_history(), 0

    if checkpoint is not None and os.path.exists(checkpoint):
        state = load_checkpoint(checkpoint)
        if state.get("train_config") != asdict(cfg):
            changed = {k: (state.get("train_config", {}).get(k), v) for k, v in asdict(cfg).items()
                       if state.get("train_config", {}).get(k) != v}
            raise CheckpointError(
                f"Checkpoint {os.fspath(checkpoint)!r} was made with other training settings "
                f"(saved vs now: {changed}). Delete it to start over, or pass another checkpoint path.")
        _load_model_state(model, state["model"], checkpoint)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        history, start_epoch = state["history"], state["epoch"]

    bar = tqdm(total=total_steps, initial=start_epoch * steps_per_epoch, disable=not progress,
               desc=type(model).__name__, unit="step", dynamic_ncols=True)
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        for x, y in train.batches(batch_size, shuffle=True, augment=augment, generator=gen, drop_last=drop_last):
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = model(x)                                   # (B, K)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            loss_sum += loss.detach() * len(y)
            correct += (logits.argmax(1) == y).sum()
            seen += len(y)
            bar.update(1)
        train_loss, train_acc = loss_sum.item() / seen, correct.item() / seen  # .item() waits for the GPU
        elapsed = time.perf_counter() - t0
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
        postfix = {"loss": f"{train_loss:.3f}", "acc": f"{train_acc:.3f}"}
        if val is not None:
            postfix["val_acc"] = f"{history['val_acc'][-1]:.4f}"
        bar.set_postfix(postfix)
        if checkpoint is not None:
            save_checkpoint(checkpoint, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
                "history": history, "epoch": epoch + 1, "train_config": asdict(cfg),
                "model_class": type(model).__name__,
            })
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, history)
    bar.close()
    return history


def train_config_fields():
    return [f.name for f in fields(TrainConfig)]
