"""The CIFAR-10 path of load_dataset, on small files in CIFAR's python-pickle format that the test writes."""
import pickle

import numpy as np
import pytest
import torch

from course_utils.data import CIFAR_FILES, DATASETS, default_augmentation, load_dataset, read_cifar
from course_utils.models import build_model


def write_cifar(folder, per_file=6, seed=0):
    """data_batch_1..5 and test_batch: {"data": (n, 3072) uint8 rows (R, G, B planes), "labels": [n]}."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    written = {}
    for split, names in CIFAR_FILES.items():
        images, labels = [], []
        for name in names:
            data = rng.integers(0, 256, size=(per_file, 3072), dtype=np.uint8)
            y = rng.integers(0, 10, size=per_file).tolist()
            key = (lambda k: k) if name.endswith("1") else str.encode   # str keys (the real files) or bytes keys
            with open(folder / name, "wb") as f:
                pickle.dump({key("batch_label"): name, key("data"): data, key("labels"): y,
                             key("filenames"): ["x.png"] * per_file}, f, protocol=2)
            images.append(data)
            labels += y
        written[split] = (np.concatenate(images), labels)
    return written


def test_read_cifar(tmp_path):
    written = write_cifar(tmp_path / "cifar-10-batches-py")
    images, labels = read_cifar(tmp_path / "cifar-10-batches-py", "train")
    assert images.shape == (30, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.tolist() == written["train"][1]
    row = written["train"][0][7]
    # channel planes: the first 1024 values are red, row by row; then green; then blue
    assert images[7, 0, 0, 0] == row[0] and images[7, 0, 1, 0] == row[32] and images[7, 1, 0, 0] == row[1024]
    assert images[7, 2, 31, 31] == row[3071]


@pytest.mark.parametrize("split,n", [("train", 30), ("test", 6)])
def test_load_dataset_cifar10_from_disk(tmp_path, split, n):
    write_cifar(tmp_path / "cifar-10-batches-py")
    data = load_dataset("cifar10", split, root=tmp_path, download=False)
    assert len(data) == n and data.name == "cifar10"
    assert (data.in_channels, data.image_size, data.num_classes) == (3, 32, 10)
    assert data.classes[0] == "airplane"
    x, y = next(data.batches(4))
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.float32
    # normalised per channel with CIFAR-10's own mean and std
    raw = data.images[:4].float() / 255
    mean, std = torch.tensor(DATASETS["cifar10"]["mean"]), torch.tensor(DATASETS["cifar10"]["std"])
    assert torch.allclose(x, (raw - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1), atol=1e-6)
    for name, kwargs in [("vit", dict(patch_size=8)), ("cnn", {})]:
        model = build_model(name, image_size=data.image_size, in_channels=data.in_channels,
                            num_classes=data.num_classes, **kwargs)
        assert model(x).shape == (4, 10)


def test_cifar_augmentation_flips_digits_do_not():
    assert default_augmentation("cifar10").hflip and default_augmentation("fashion_mnist").hflip
    assert not default_augmentation("mnist").hflip
    aug = default_augmentation("cifar10")
    x = torch.rand(5, 3, 32, 32)
    out = aug(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape


def test_missing_cifar_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="CIFAR10"):
        load_dataset("cifar10", "train", root=tmp_path, download=False)
