"""Runtime choices of a training run: the seed, the device, and mixed precision (notebook 05_training); and
what a run ran on (`provenance`, recorded with every reference run).

Mixed precision: bf16 autocast on GPUs with native bf16 (compute capability >= 8.0: A100, H100, RTX 30xx+);
fp16 autocast with a GradScaler below that (a Colab T4 is 7.5: `torch.cuda.is_bf16_supported()` may say
True there, but bf16 is emulated and slow); plain fp32 on the CPU (CPU autocast is slower for these models).
`COURSE_AMP=0` in the environment turns autocast off on GPUs too: plain fp32 everywhere, so reference runs made
on a GPU are computed like those made on CPUs.
"""
import os
import platform
import random
import subprocess
from pathlib import Path

import numpy as np
import torch


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
    """(autocast dtype or None, whether to use a GradScaler) for a device; (None, False) when $COURSE_AMP is 0."""
    device = torch.device(device)
    if device.type != "cuda" or os.environ.get("COURSE_AMP", "1").strip().lower() in ("0", "off", "false", "no"):
        return None, False
    major, _ = torch.cuda.get_device_capability(device)
    if major >= 8:
        return torch.bfloat16, False
    return torch.float16, True


def grad_scaler(device, enabled):
    """A GradScaler (a no-op when not enabled). torch.amp.GradScaler where it exists (torch >= 2.3)."""
    device = torch.device(device)
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler(device.type, enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled and device.type == "cuda")


def cpu_model():
    """The CPU's name (e.g. "AMD EPYC"), for the provenance of a run."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance():
    """torch, Python, the CPU and its kernels (AVX2 and AVX-512 round differently: a seeded run repeats its numbers
    on the same kind of machine, not on every machine), the git commit ($COURSE_COMMIT where it is set: the commit a
    copy of the code was made from, when that copy's own git, if any, does not know it; None outside a checkout)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", str(here)], cwd=here,
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    if os.environ.get("COURSE_COMMIT"):    # a copy of the code sent elsewhere (a GPU machine) says what it was made from
        commit, dirty = os.environ["COURSE_COMMIT"], None
    return {"torch": torch.__version__, "python": platform.python_version(), "cpu": cpu_model(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
            "commit": commit, "code_modified": dirty}
