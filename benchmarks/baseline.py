"""The baseline: how most from-scratch ViT tutorials train MNIST, kept faithful on purpose.

- data: torchvision's MNIST with `transforms.Compose([ToTensor(), Normalize(...)])`, so every image is
  a PIL image turned into a tensor one at a time, through a `DataLoader` (batch 128, shuffle,
  2 workers as Colab suggests; `pin_memory` on a GPU);
- model: the SAME architecture and initial weights as the course's, but attention written as
  matmul-softmax-matmul (`ManualAttentionViT`: the course's own manual path, the one that returns the
  weights) instead of the fused `F.scaled_dot_product_attention`; CNNs are the course's classes as is;
- training: fp32, `Adam(lr=1e-3)` at a constant learning rate (no warm-up, no schedule, no clipping),
  `loss.item()` and `.sum().item()` every step for the running loss and accuracy, as tutorials print them;
- evaluation: a test DataLoader (batch 1000) in fp32.

Nothing here is used by the course itself; `benchmarks/time_to_accuracy.py` times it against `fit`.
"""
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from course_utils.models import build_model
from course_utils.vit import VisionTransformer

BATCH_SIZE = 128    # the tutorials' usual batch
LR = 1e-3           # Adam's usual constant learning rate
TEST_BATCH_SIZE = 1000


class ManualAttentionViT(VisionTransformer):
    """The course ViT, every attention computed as softmax(q k^T / sqrt(d)) v with explicit matmuls."""

    def forward(self, x):
        logits, _ = super().forward(x, return_attention=True)   # the hand-written path in every block
        return logits


def build_baseline_model(name, **kwargs):
    """The course model `name` with the tutorials' attention (same config, same initial weights per seed)."""
    model = build_model(name, **kwargs)
    if isinstance(model, VisionTransformer):
        manual = ManualAttentionViT(model.cfg)
        manual.load_state_dict(model.state_dict())   # the weights the course model starts from
        model = manual
    return model


def mnist_datasets(root, dataset="mnist"):
    """torchvision's (train, test) data sets with the tutorials' per-sample transforms (files must be under root)."""
    from torchvision import datasets, transforms

    from course_utils.data import DATASETS, dataset_name

    info = DATASETS[dataset_name(dataset)]
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(info["mean"], info["std"])])
    cls = getattr(datasets, info["cls"])
    return (cls(str(root), train=True, download=False, transform=transform),
            cls(str(root), train=False, download=False, transform=transform))


def make_loaders(train_set, test_set, *, device, train_indices=None, test_indices=None, batch_size=BATCH_SIZE,
                 num_workers=2):
    """The tutorials' DataLoaders; optional index lists pick the same subsets as the course path."""
    if train_indices is not None:
        train_set = Subset(train_set, list(train_indices))
    if test_indices is not None:
        test_set = Subset(test_set, list(test_indices))
    pin = torch.device(device).type == "cuda"
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, num_workers=num_workers, pin_memory=pin)
    test_loader = DataLoader(test_set, batch_size=TEST_BATCH_SIZE, shuffle=False, num_workers=num_workers,
                             pin_memory=pin)
    return train_loader, test_loader


def train_one_epoch(model, loader, optimizer, device):
    """One epoch the tutorials' way; returns (mean loss, accuracy) on the training batches."""
    model.train()
    running_loss, correct, total = 0.0, 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        outputs = model(images)
        loss = F.cross_entropy(outputs, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running_loss += loss.item() * labels.size(0)
        correct += (outputs.argmax(1) == labels).sum().item()
        total += labels.size(0)
    return running_loss / total, correct / total


@torch.no_grad()
def test_accuracy(model, loader, device):
    """Accuracy on the test loader, fp32."""
    model.eval()
    correct, total = 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        correct += (model(images).argmax(1) == labels).sum().item()
        total += labels.size(0)
    return correct / total


def train(model, train_loader, test_loader, *, epochs, device, lr=LR, on_epoch_end=None):
    """Adam at a constant lr for `epochs` epochs; after each, test accuracy off the training clock.

    Returns a list of per-epoch dicts: epoch, train_s (this epoch's training time), train_loss,
    train_acc, images, test_acc. on_epoch_end(record) may raise to stop early.
    """
    device = torch.device(device)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    records = []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        loss, acc = train_one_epoch(model, train_loader, optimizer, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        record = dict(epoch=epoch, train_s=seconds, train_loss=loss, train_acc=acc,
                      images=len(train_loader.dataset), test_acc=test_accuracy(model, test_loader, device))
        records.append(record)
        if on_epoch_end is not None:
            on_epoch_end(record)
    return records
