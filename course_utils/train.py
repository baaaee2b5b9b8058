"""One training loop for every model (notebook 05_training).

`fit(model, train, val, cfg)` trains any model of the course contract (images -> logits) with AdamW
(or SGD), linear warm-up then cosine decay per step, mixed precision where the GPU has it, a tqdm
progress bar, and a checkpoint after every epoch that a rerun resumes from. It returns a plain
history (dict of lists); plotting lives in `plots`. `evaluate` gives loss, accuracy, macro-F1 and
the confusion matrix.

Mixed precision: bf16 autocast on GPUs with native bf16 (compute capability >= 8.0: A100, H100, RTX 30xx+);
fp16 autocast with a GradScaler below that (a Colab T4 is 7.5: `torch.cuda.is_bf16_supported()` may say
True there, but bf16 is emulated and slow); plain fp32 on the CPU.

Speed options of `fit`, all off by default and none changing the training recipe (benchmarks/README.md
has the measurements): `compile` (torch.compile the model for training, falling back to eager with a
warning where compiling fails), `channels_last` (NHWC memory layout for CNNs) and `fused_optimizer`
(one fused AdamW/SGD kernel instead of one small kernel per parameter tensor). `fast_settings(device,
model)` returns the combination the benchmarks use for a device and a model.
"""
import math
import os
import random
import time
import warnings
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


COMPILE_MODES = (False, True, "auto", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def resolve_compile(compile, device):
    """The torch.compile mode fit uses: None (eager) or a mode name. "auto": "default" on a GPU, eager on the CPU.

    On the CPU compiling a model takes minutes on 2 cores (a C++ compiler runs for every fused kernel),
    more than a short course run saves; on a GPU it fuses the many small element-wise kernels of a small
    model into few. "reduce-overhead" adds CUDA graphs (one launch per step).
    """
    if compile not in COMPILE_MODES:
        raise ValueError(f"compile must be one of {COMPILE_MODES}, got {compile!r}.")
    if compile == "auto":
        return "default" if torch.device(device).type == "cuda" else None
    if compile is True:
        return "default"
    return compile or None


def compile_model(model, mode="default"):
    """torch.compile(model, mode=mode); the model itself (with a warning) where torch.compile is missing or fails."""
    if mode is None:
        return model
    if not hasattr(torch, "compile"):
        warnings.warn("torch.compile needs PyTorch >= 2.0: training without it.", stacklevel=2)
        return model
    try:
        return torch.compile(model, mode=mode)
    except Exception as e:  # e.g. an unsupported Python version
        warnings.warn(f"torch.compile failed ({_short(e)}): training without it.", stacklevel=2)
        return model


def _short(e):
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__


def fast_settings(device, model=None):
    """fit's speed options for a device and model: dict(compile=..., channels_last=..., fused_optimizer=...).

    GPU: fused optimizer, and channels_last for CNNs (NHWC feeds the tensor cores' convolutions).
    CPU: none of them (on a CPU they do not help, and channels-last BatchNorm is less exact there).
    compile stays off: its compile time (seconds on a GPU, minutes on 2 CPU cores) must first be shown to
    pay for itself in time to accuracy; benchmarks/time_to_accuracy.py measures it ("course-compiled").
    """
    device = torch.device(device)
    if device.type != "cuda":
        return dict(compile=False, channels_last=False, fused_optimizer=False)
    is_cnn = model is not None and _is_cnn(model)
    return dict(compile=False, channels_last=is_cnn, fused_optimizer=torch.__version__ >= "2.4")


def _is_cnn(model):
    """True for convolutional networks: more than one Conv2d (a ViT's patch embedding is a single one)."""
    return sum(isinstance(m, nn.Conv2d) for m in model.modules()) > 1


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


def fit(model, train, val=None, cfg=None, *, device=None, checkpoint=None, progress=True, on_epoch_end=None,
        compile=False, channels_last=False, fused_optimizer=False, **overrides):
    """Train `model` on `train` (an ImageData); return the per-epoch history (dict of lists).

    Args:
        cfg: a TrainConfig; keyword overrides (epochs=3, lr=1e-3, ...) replace its fields.
        device: where to train (default: the GPU if there is one). The data moves there once.
        checkpoint: a file path. Saved after every epoch; if it exists, training resumes from it
            (a finished run returns its history at once), so a rerun after a disconnect continues.
        on_epoch_end: called as on_epoch_end(epoch, history) after each epoch (e.g. to plot live).
        compile, channels_last, fused_optimizer: speed options that leave the recipe alone (off by
            default; `fast_settings(device, model)` picks them). compile: False, True, "auto" (GPU only)
            or a torch.compile mode; only training steps run compiled, evaluation and checkpoints use
            `model` itself. channels_last: NHWC layout for CNNs. fused_optimizer: one-kernel AdamW/SGD.
    """
    cfg = TrainConfig(**{**(asdict(cfg) if cfg else {}), **overrides})
    device = torch.device(device) if device is not None else pick_device()
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)   # conv weights (K, C, kh, kw) stored as NHWC
    step_model = compile_model(model, resolve_compile(compile, device))
    train = train.to(device) if train.device != device else train
    if val is not None and val.device != device:
        val = val.to(device)
    amp_dtype, use_scaler = amp_settings(device)
    batch_size = min(cfg.batch_size, len(train))
    drop_last = len(train) % batch_size == 1    # never a batch of one image (BatchNorm cannot train on it)
    steps_per_epoch = len(train) // batch_size if drop_last else math.ceil(len(train) / batch_size)
    total_steps = cfg.epochs * steps_per_epoch

    optimizer = make_optimizer(model, cfg, fused=fused_optimizer)
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

    cuda_graphs = resolve_compile(compile, device) in ("reduce-overhead", "max-autotune")

    def forward_backward(m, x, y):
        if cuda_graphs and m is not model:   # a new step: CUDA graphs may reuse the last step's buffers
            torch.compiler.cudagraph_mark_step_begin()
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = m(x)                                   # (B, K)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        return logits, loss

    bar = tqdm(total=total_steps, initial=start_epoch * steps_per_epoch, disable=not progress,
               desc=type(model).__name__, unit="step", dynamic_ncols=True)
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        for x, y in train.batches(batch_size, shuffle=True, augment=augment, generator=gen, drop_last=drop_last):
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            # The compiled model takes the full batches; the epoch's last, smaller batch runs eagerly
            # rather than triggering a second compilation for its shape.
            m = step_model if len(y) == batch_size else model
            try:
                logits, loss = forward_backward(m, x, y)
            except Exception as e:
                if m is model:
                    raise
                # torch.compile compiles at its first call. If that fails, redo the step with the model itself (same weights; an error of the model's own
                # is raised from here, with its own message) and train on without compiling.
                logits, loss = forward_backward(model, x, y)
                warnings.warn(f"torch.compile failed ({_short(e)}): training without it.", stacklevel=2)
                step_model = model
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
    if channels_last:
        model.to(memory_format=torch.contiguous_format)  # hand the model back in the usual layout
    return history

