"""Shared fixtures: the real MNIST, read offline (tests never download)."""
import os

import pytest
import torch

from course_utils.data import DatasetNotFoundError, load_dataset

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def _load(name, split):
    try:
        return load_dataset(name, split, download=False)
    except DatasetNotFoundError as e:
        if os.environ.get("CI"):
            raise  # CI places the data first: missing data there is a real failure
        pytest.skip(f"{name} is not on this machine (tests never download): {str(e).splitlines()[0]}")


@pytest.fixture(scope="session")
def mnist_train():
    return _load("mnist", "train")


@pytest.fixture(scope="session")
def mnist_test():
    return _load("mnist", "test")
