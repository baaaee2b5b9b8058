"""Data sets as tensors in memory (notebook 05_training).

For 28x28 images the usual DataLoader with per-sample PIL transforms is the bottleneck (7.8 s per
ViT epoch against 1.7 s with the data on the GPU, measured on an H100). So a data set here is an
`ImageData`: all images as one uint8 tensor (N, C, H, W) and labels (N,), moved to the GPU when there
is one; batches are index slices, and augmentation runs on the whole batch at once (`BatchAugment`).

Data sets come through torchvision (MNIST, Fashion-MNIST, CIFAR-10). Machines without internet use
local copies: the idx files already under `<root>/<Name>/raw/`, a folder named by $COURSE_LOCAL_DATA,
a `shared/data/MNIST` beside the repository, or Debian's `dataset-fashion-mnist` package. When none
is there and the download fails, `DatasetNotFoundError` says what was missing, where it looked and
what to do.
"""
import gzip
import math
import os
import pickle
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

DATASETS = {
    # name: torchvision class name, folder under root, mean, std, classes, local copies to look for
    "mnist": dict(cls="MNIST", folder="MNIST", mean=(0.1307,), std=(0.3081,),
                  classes=tuple(str(i) for i in range(10)), local=("shared/data/MNIST",)),
    "fashion_mnist": dict(cls="FashionMNIST", folder="FashionMNIST", mean=(0.2860,), std=(0.3530,),
                          classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                                   "Shirt", "Sneaker", "Bag", "Ankle boot"),
                          local=("shared/data/FashionMNIST", "/usr/share/datasets/fashion-mnist")),
    "cifar10": dict(cls="CIFAR10", folder="cifar-10-batches-py", mean=(0.4914, 0.4822, 0.4465),
                    std=(0.2470, 0.2435, 0.2616),
                    classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
                    local=()),
}
ALIASES = {"fashion-mnist": "fashion_mnist", "fashionmnist": "fashion_mnist", "cifar-10": "cifar10", "cifar": "cifar10"}


class DatasetNotFoundError(FileNotFoundError):
    """The data set is not on disk and could not be downloaded."""


def dataset_name(name):
    """Canonical data set name ('mnist', 'fashion_mnist', 'cifar10'); a clear error for others."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in DATASETS:
        raise ValueError(f"Unknown data set {name!r}. Available: {', '.join(DATASETS)}.")
    return key


def default_root():
    """Where data sets live: $COURSE_DATA_DIR, else ~/.cache/vit-course/data."""
    return Path(os.environ.get("COURSE_DATA_DIR") or Path.home() / ".cache" / "vit-course" / "data")


def local_copy_candidates(name):
    """Folders that may hold a local copy of the idx files of `name` (most specific first)."""
    info = DATASETS[dataset_name(name)]
    found = []
    if os.environ.get("COURSE_LOCAL_DATA"):
        found.append(Path(os.environ["COURSE_LOCAL_DATA"]) / info["folder"])
    starts = [Path.cwd(), Path(__file__).resolve().parent]
    for rel in info["local"]:
        if rel.startswith("/"):
            found.append(Path(rel))
            continue
        for start in starts:  # a shared/ folder beside the repository, or beside a parent folder
            for parent in [start, *start.parents][:5]:
                found.append(parent / rel)
                found.append(parent / ".." / rel)
    unique = []
    for p in found:
        p = p.resolve() if p.exists() else p
        if p not in unique:
            unique.append(p)
    return unique


def _place_local_copy(name, root):
    """Unzip a local copy of the idx files into <root>/<Name>/raw/; return the source used, or None."""
    info = DATASETS[dataset_name(name)]
    raw = Path(root) / info["folder"] / "raw"
    if all((raw / f).exists() for f in IDX_FILES):
        return raw
    for src in local_copy_candidates(name):
        if not all((src / f).exists() or (src / (f + ".gz")).exists() for f in IDX_FILES):
            continue
        raw.mkdir(parents=True, exist_ok=True)
        for f in IDX_FILES:
            tmp = raw / (f + ".part")
            if (src / f).exists():
                shutil.copyfile(src / f, tmp)
            else:
                with gzip.open(src / (f + ".gz"), "rb") as zin, open(tmp, "wb") as out:
                    shutil.copyfileobj(zin, out)
            os.replace(tmp, raw / f)  # atomic: an interrupted copy never looks complete
        return src
    return None


@dataclass
class ImageData:
    """A labelled image set held in memory: images (N, C, H, W) uint8, labels (N,) int64."""
    images: torch.Tensor
    labels: torch.Tensor
    name: str
    classes: tuple
    mean: tuple
    std: tuple

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        """A subset (same data set, same normalisation) from an index tensor, list or slice."""
        if isinstance(idx, int):
            idx = [idx]
        return replace(self, images=self.images[idx], labels=self.labels[idx])

    def __repr__(self):
        return (f"ImageData({self.name}: {len(self)} images of shape {tuple(self.images.shape[1:])}, "
                f"{self.num_classes} classes, on {self.device})")

    @property
    def num_classes(self):
        return len(self.classes)

    @property
    def device(self):
        return self.images.device

    @property
    def image_size(self):
        return self.images.shape[-1]

    @property
    def in_channels(self):
        return self.images.shape[1]

    def to(self, device):
        """The same data on `device` (e.g. "cuda": then batches never leave the GPU)."""
        return replace(self, images=self.images.to(device), labels=self.labels.to(device))

    def class_counts(self):
        return torch.bincount(self.labels.cpu(), minlength=self.num_classes)

    def normalize(self, x):
        """uint8 (or [0, 1] float) images -> float, zero mean and unit std per channel."""
        if x.dtype == torch.uint8:
            x = x.float().div_(255)
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std

    def unnormalize(self, x):
        """Normalised float images -> [0, 1], for display."""
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x * std + mean).clamp(0, 1)

    def tensors(self):
        """(images, labels): all images normalised as float (N, C, H, W) and labels (N,)."""
        return self.normalize(self.images), self.labels

    def batches(self, batch_size, *, shuffle=False, augment=None, generator=None, drop_last=False):
        """Yield (images (B, C, H, W) float normalised, labels (B,)) on the data's device.

        shuffle draws a new order from `generator`; augment is a BatchAugment (or any callable
        taking (images in [0, 1], generator)) applied before normalising.
        """
        n = len(self)
        if shuffle:
            order = torch.randperm(n, generator=generator, device=generator.device if generator else "cpu")
            order = order.to(self.device)
        else:
            order = torch.arange(n, device=self.device)
        stop = n - n % batch_size if drop_last and n >= batch_size else n
        for start in range(0, stop, batch_size):
            idx = order[start:start + batch_size]
            x = self.images[idx].float().div_(255)       # (B, C, H, W) in [0, 1]
            if augment is not None:
                x = augment(x, generator)
            yield self.normalize(x), self.labels[idx]


def load_dataset(name="mnist", split="train", *, root=None, download=True, device=None):
    """Load a whole split as an ImageData in memory (on `device` if given).

    Uses the copy under `root` (default: $COURSE_DATA_DIR or ~/.cache/vit-course/data), else a local
    copy (see the module docstring), else torchvision's download. Raises DatasetNotFoundError with
    what to do when none works.
    """
    import torchvision  # imported here: nothing heavy happens at `import course_utils`

    key = dataset_name(name)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test' (make a validation set with train_val_split), got {split!r}.")
    info = DATASETS[key]
    root = Path(root) if root is not None else default_root()
    if key == "cifar10" and all((root / info["folder"] / f).exists() for f in CIFAR_FILES[split]):
        data = ImageData(*read_cifar(root / info["folder"], split), key, info["classes"], info["mean"], info["std"])
        return data.to(device) if device is not None else data
    dataset_cls = getattr(torchvision.datasets, info["cls"])
    local = _place_local_copy(key, root) if key != "cifar10" else None
    try:
        ds = dataset_cls(str(root), train=(split == "train"), download=download and local is None)
        error = None
    except Exception as e:  # no internet, HTTP 403/503, a half-written file...
        ds, error = None, e
    if ds is None:
        looked = [str(root / info["folder"] / "raw")] + [str(p) for p in local_copy_candidates(key)[:6]]
        hint = {
            "mnist": "copy the four MNIST idx files (train-images-idx3-ubyte.gz, ...) into one of those "
                     "folders, or point $COURSE_LOCAL_DATA at a folder holding MNIST/",
            "fashion_mnist": "on Debian/Ubuntu: `sudo apt-get install dataset-fashion-mnist`; or copy the "
                             "four Fashion-MNIST idx files into one of those folders",
            "cifar10": "download cifar-10-python.tar.gz by hand and unpack it under the data root",
        }[key]
        why = (f"The download failed: {type(error).__name__}: {error}" if download
               else "Downloading was turned off (download=False).")
        raise DatasetNotFoundError(
            f"{info['cls']} ({split}) is not on this machine. Looked in:\n  " + "\n  ".join(looked) +
            f"\n{why}\nWhat to do: connect to the internet and run again (torchvision downloads it), "
            f"or {hint}. Set $COURSE_DATA_DIR to choose the data root."
        ) from error
    images = torch.as_tensor(ds.data)
    if images.ndim == 3:                      # (N, H, W) grey-scale
        images = images.unsqueeze(1)          # (N, 1, H, W)
    else:                                     # CIFAR: (N, H, W, C) numpy
        images = images.permute(0, 3, 1, 2).contiguous()  # (N, C, H, W)
    labels = torch.as_tensor(ds.targets, dtype=torch.long)
    data = ImageData(images, labels, key, info["classes"], info["mean"], info["std"])
    return data.to(device) if device is not None else data


CIFAR_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def read_cifar(folder, split):
    """(images (N, 3, 32, 32) uint8, labels (N,)) from CIFAR-10's python-pickle batches in `folder` (no md5 check)."""
    images, labels = [], []
    for name in CIFAR_FILES[split]:
        with open(Path(folder) / name, "rb") as f:
            batch = pickle.load(f, encoding="latin1")     # {"data": (n, 3072) uint8, "labels": [n ints], ...}
        batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}   # Python 2 or 3 keys
        images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))  # 1024 R, 1024 G, 1024 B
        labels.extend(batch["labels"])
    return torch.from_numpy(np.concatenate(images)), torch.tensor(labels, dtype=torch.long)


def balanced_subset(data, size, *, seed=0):
    """A class-balanced subset of `size` images: size // K per class (the first size % K classes in a
    seeded order get one more). Seeded, and nested: with one seed, a smaller subset lies inside a larger.
    """
    K = data.num_classes
    if size >= len(data):
        return data
    labels = data.labels.cpu()
    g = torch.Generator().manual_seed(seed)
    extra = set(torch.randperm(K, generator=g)[: size % K].tolist())
    picks = []
    for c in range(K):
        members = torch.nonzero(labels == c).flatten()
        want = size // K + (c in extra)
        if want > len(members):
            raise ValueError(f"Class {data.classes[c]!r} has only {len(members)} images; a balanced subset "
                             f"of {size} needs {want} per class. The largest balanced subset is "
                             f"{K * int(data.class_counts().min())}.")
        picks.append(members[torch.randperm(len(members), generator=g)[:want]])
    idx = torch.cat(picks).sort().values
    return data[idx.to(data.device)]


def train_val_split(data, val_size=0.1, *, seed=0):
    """Split into (train, validation), stratified by class. val_size: a fraction or a count.

    Tune on the validation set; touch the test set once, at the end.
    """
    from sklearn.model_selection import train_test_split

    idx = torch.arange(len(data)).numpy()
    train_idx, val_idx = train_test_split(idx, test_size=val_size, random_state=seed,
                                          stratify=data.labels.cpu().numpy(), shuffle=True)
    dev = data.device
    return data[torch.as_tensor(train_idx, device=dev)], data[torch.as_tensor(val_idx, device=dev)]


class BatchAugment(nn.Module):
    """Random affine per image, on a whole batch at once (any device): rotation, shift, zoom, flip.

    Input and output: (B, C, H, W) in [0, 1]; empty space is filled with 0 (the background).
    """

    def __init__(self, *, degrees=0.0, translate=0.0, scale=(1.0, 1.0), hflip=False):
        super().__init__()
        self.degrees, self.translate, self.scale, self.hflip = degrees, translate, tuple(scale), hflip

    def forward(self, x, generator=None):
        B = x.shape[0]

        def uniform(lo, hi):  # (B,) uniform in [lo, hi], drawn from the seeded generator
            dev = generator.device if generator is not None else x.device
            return (torch.rand(B, generator=generator, device=dev) * (hi - lo) + lo).to(x.device)

        angle = uniform(-self.degrees, self.degrees) * math.pi / 180
        zoom = uniform(*self.scale)
        shift = self.translate * 2  # affine_grid coordinates span [-1, 1]: a shift of t * width is 2t
        tx, ty = uniform(-shift, shift), uniform(-shift, shift)
        flip = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0) if self.hflip else torch.ones(B, device=x.device)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1),
                             torch.stack([sin * flip, cos, ty], 1)], 1)       # (B, 2, 3)
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def extra_repr(self):
        return f"degrees={self.degrees}, translate={self.translate}, scale={self.scale}, hflip={self.hflip}"


def default_augmentation(name):
    """Augmentation that is right for the data set. Never a horizontal flip on digits: a mirrored 2,
    3, 4, 5, 7 or 9 is not a digit any more."""
    key = dataset_name(name)
    if key == "mnist":
        return BatchAugment(degrees=10, translate=0.1, scale=(0.9, 1.1))
    if key == "fashion_mnist":  # a mirrored shoe is still a shoe
        return BatchAugment(translate=0.1, hflip=True)
    return BatchAugment(translate=0.125, hflip=True)  # CIFAR-10: the classic pad-4 crop + flip


def prepare(source, root=None):
    """Copy local idx files (a folder holding MNIST/ and/or FashionMNIST/) into the data root."""
    root = Path(root) if root is not None else default_root()
    done = []
    for key, info in DATASETS.items():
        if key == "cifar10":
            continue
        src = Path(source) / info["folder"]
        candidates = [src] + ([Path(p) for p in info["local"] if p.startswith("/")])
        for c in candidates:
            if all((c / f).exists() or (c / (f + ".gz")).exists() for f in IDX_FILES):
                raw = root / info["folder"] / "raw"
                if not all((raw / f).exists() for f in IDX_FILES):
                    raw.mkdir(parents=True, exist_ok=True)
                    for f in IDX_FILES:
                        if (c / f).exists():
                            shutil.copyfile(c / f, raw / f)
                        else:
                            with gzip.open(c / (f + ".gz"), "rb") as zin, open(raw / f, "wb") as out:
                                shutil.copyfileobj(zin, out)
                done.append(info["cls"])
                break
    return done


def download(names=("mnist",), root=None):
    """Fetch data sets through torchvision (needs internet); return the names now on disk."""
    ready = []
    for name in names:
        for split in ("train", "test"):
            load_dataset(name, split, root=root, download=True)
        ready.append(dataset_name(name))
    return ready


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course_utils.data",
                                     description="Place MNIST / Fashion-MNIST in the data root, offline or by download.")
    parser.add_argument("command", choices=["prepare"])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--from", dest="source", help="folder holding MNIST/ (and/or FashionMNIST/) idx files")
    where.add_argument("--download", action="store_true", help="download through torchvision (needs internet)")
    parser.add_argument("--datasets", nargs="+", default=["mnist"], help="with --download (default: mnist)")
    parser.add_argument("--root", default=None, help="data root (default: $COURSE_DATA_DIR or ~/.cache/vit-course/data)")
    args = parser.parse_args(argv)
    if args.download:
        try:
            placed = download(args.datasets, args.root)
        except DatasetNotFoundError as e:
            print(f"error: {e}")
            return 1
    else:
        placed = prepare(args.source, args.root)
    print(f"placed in {args.root or default_root()}: {', '.join(placed) or 'nothing (no idx files found)'}")
    return 0 if placed else 1


if __name__ == "__main__":
    import sys

    sys.exit(main())
