"""Run profiles: the same notebook at three sizes, chosen once and read everywhere.

    quick  CI, nbval, a first look: seconds to a few minutes per notebook on 2 CPU cores
    cpu    default without a GPU (Colab CPU, a laptop): about 15 minutes per notebook
    gpu    default with CUDA (Colab T4): full data sets and the full experiments

Pick one with the environment variable COURSE_PROFILE; otherwise it is "gpu" when CUDA is
available and "cpu" when not. Notebooks ask for per-profile values with `profile.choose(...)`.
"""
import os
from dataclasses import dataclass

import torch

PROFILES = ("quick", "cpu", "gpu")


@dataclass(frozen=True)
class Profile:
    name: str

    def choose(self, *, quick, cpu, gpu):
        """Return the value given for the current profile."""
        return {"quick": quick, "cpu": cpu, "gpu": gpu}[self.name]

    @property
    def is_quick(self):
        return self.name == "quick"

    def __str__(self):
        return self.name


def default_profile_name():
    """The profile used when COURSE_PROFILE is not set: "gpu" with CUDA, else "cpu"."""
    return "gpu" if torch.cuda.is_available() else "cpu"


def get_profile(name=None) -> Profile:
    """The run profile: `name`, else $COURSE_PROFILE, else the automatic default."""
    name = name or os.environ.get("COURSE_PROFILE") or default_profile_name()
    name = name.strip().lower()
    if name not in PROFILES:
        raise ValueError(
            f"Unknown run profile {name!r}. Choose one of {', '.join(PROFILES)}, "
            f"e.g. `export COURSE_PROFILE=quick` (or unset it for the automatic default)."
        )
    return Profile(name)
