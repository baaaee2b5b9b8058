"""Speed options of `train.fit` that change how fast it trains, never what it learns (benchmarks/README.md).

- `compile`: torch.compile the model for the training steps, falling back to eager with a warning where
  compiling fails; "auto" compiles on a GPU only (on 2 CPU cores compiling takes minutes).
- `channels_last`: NHWC memory layout for CNNs (the layout GPU tensor cores, and oneDNN on CPUs, prefer).
- `fused_optimizer`: one fused AdamW/SGD kernel instead of one small kernel per parameter tensor.
`fast_settings(device, model)` returns the combination the benchmarks use for a device and a model.
"""
import inspect
import warnings

import torch
from torch import nn

COMPILE_MODES = (False, True, "auto", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def fused_optimizer_supported(device):
    """Whether torch.optim.AdamW takes fused=True on `device` (feature detection, not version strings)."""
    if "fused" not in inspect.signature(torch.optim.AdamW).parameters:
        return False
    if torch.device(device).type == "cuda":   # fused CUDA kernels came with the `fused` argument itself
        return True
    try:
        torch.optim.AdamW([torch.zeros(1, device=device, requires_grad=True)], fused=True)
        return True
    except (RuntimeError, ValueError, TypeError):   # e.g. fused AdamW on the CPU before torch 2.4
        return False


def resolve_compile(compile, device):
    """The torch.compile mode fit uses: None (eager) or a mode name. "auto": "default" on a GPU, eager on the CPU."""
    if compile not in COMPILE_MODES:
        raise ValueError(f"compile must be one of {COMPILE_MODES}, got {compile!r}.")
    if compile == "auto":
        return "default" if torch.device(device).type == "cuda" else None
    if compile is True:
        return "default"
    return compile or None


def _short(e):
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__


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


class StepModel:
    """What the training steps call: the compiled model for full batches, the model itself otherwise.

    The epoch's last, smaller batch runs eagerly rather than triggering a second compilation for its
    shape. If the compiled model fails at its first call (torch.compile compiles then), the step is redone
    with the model itself and training goes on without compiling, with a warning.
    """

    def __init__(self, model, mode, batch_size):
        self.model, self.batch_size, self.mode = model, batch_size, mode
        self.compiled = compile_model(model, mode)
        self.cuda_graphs = mode in ("reduce-overhead", "max-autotune")

    def parameters(self):
        return self.model.parameters()

    def __call__(self, x):
        if self.compiled is self.model or len(x) != self.batch_size:
            return self.model(x)
        if self.cuda_graphs:   # a new step: CUDA graphs may reuse the last step's buffers
            torch.compiler.cudagraph_mark_step_begin()
        try:
            return self.compiled(x)
        except Exception as e:
            out = self.model(x)   # a mistake of the model's own is raised from here, with its own message
            warnings.warn(f"torch.compile failed ({_short(e)}): training without it.", stacklevel=2)
            self.compiled = self.model
            return out


def is_cnn(model):
    """True for convolutional networks: more than one Conv2d (a ViT's patch embedding is a single one)."""
    return sum(isinstance(m, nn.Conv2d) for m in model.modules()) > 1


def fast_settings(device, model=None):
    """fit's speed options for a device and model: dict(compile=..., channels_last=..., fused_optimizer=...).

    GPU: fused optimizer, and channels_last for CNNs (NHWC feeds the tensor cores' convolutions).
    CPU: none of them by default (channels-last BatchNorm rounds differently from the reference there).
    compile stays off: its compile time must first be shown to pay for itself in time to accuracy;
    benchmarks/time_to_accuracy.py measures it ("course-compiled").
    """
    device = torch.device(device)
    if device.type != "cuda":
        return dict(compile=False, channels_last=False, fused_optimizer=False)
    is_conv = model is not None and is_cnn(model)
    return dict(compile=False, channels_last=is_conv, fused_optimizer=fused_optimizer_supported(device))
