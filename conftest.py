"""Test-session set-up shared by tests/ and notebooks/ (pytest loads it from the repository root).

- nbval's sanitize file by absolute path, so `pytest notebooks/01_patches.ipynb` works from any folder.
- The data: tests never download, except once here, before any test needs it, when MNIST is missing and
  the machine may have internet. Without data every data-dependent test (notebooks included) skips with
  one message that says what to do; under CI (CI=true) missing data is a failure instead.
"""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
NO_DATA = ("MNIST is not on this machine and could not be downloaded. Run `python -m course_utils.data prepare "
           "--download` (with internet) or `python -m course_utils.data prepare --from DIR` (DIR holds MNIST/), "
           "then run the tests again.")
_state = {}


def pytest_configure(config):
    if getattr(config.option, "nbval_sanitize_with", None) is None and hasattr(config.option, "nbval_lax"):
        config.option.nbval_sanitize_with = str(ROOT / ".nbval-sanitize.cfg")
    config.addinivalue_line("markers", "needs_data: the test reads MNIST (skipped, with what to do, when it is missing)")


def mnist_available():
    """True when MNIST can be read (fetching it once, at the first call, if it is missing and not under CI)."""
    if "mnist" not in _state:
        from course_utils.data import DatasetNotFoundError, load_dataset
        try:
            load_dataset("mnist", "test", download=False)
            _state["mnist"] = True
        except DatasetNotFoundError:
            _state["mnist"] = False
            if not os.environ.get("CI") and not os.environ.get("COURSE_NO_DOWNLOAD"):
                try:
                    from course_utils.data import download
                    download(["mnist"])
                    _state["mnist"] = True
                except Exception:   # no network: every data test skips with NO_DATA
                    pass
    return _state["mnist"]


def skip_without_data():
    """Skip the calling test with NO_DATA when MNIST is missing (never under CI: there it must be present)."""
    if not mnist_available() and not os.environ.get("CI"):
        pytest.skip(NO_DATA)


def _load(name, split):
    from course_utils.data import load_dataset
    if name == "mnist":
        skip_without_data()
    return load_dataset(name, split, download=False)   # under CI a missing data set fails here


@pytest.fixture(scope="session")
def mnist_train():
    return _load("mnist", "train")


@pytest.fixture(scope="session")
def mnist_test():
    return _load("mnist", "test")


@pytest.fixture
def needs_mnist():
    """For tests that read MNIST indirectly (e.g. a notebook they execute): skip with NO_DATA when it is missing."""
    skip_without_data()


def pytest_collection_modifyitems(config, items):
    data_items = [it for it in items if it.get_closest_marker("needs_data") or it.path.suffix == ".ipynb"]
    if data_items and not os.environ.get("CI") and not mnist_available():
        for it in data_items:
            it.add_marker(pytest.mark.skip(reason=NO_DATA))
