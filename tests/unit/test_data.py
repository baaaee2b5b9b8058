import pytest
import torch

from course_utils.data import (
    BatchAugment,
    DatasetNotFoundError,
    balanced_subset,
    dataset_name,
    default_augmentation,
    load_dataset,
    train_val_split,
)


def test_real_mnist_is_loaded(mnist_train, mnist_test):
    assert mnist_train.images.shape == (60_000, 1, 28, 28) and mnist_train.images.dtype == torch.uint8
    assert mnist_train.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]      # the data's own README
    assert mnist_test.class_counts().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    x, _ = mnist_train[:1000].tensors()
    assert abs(x.mean().item()) < 0.05 and abs(x.std().item() - 1) < 0.05        # normalised


@pytest.mark.parametrize("size", [600, 1800, 6000, 603])
def test_balanced_subset_has_exact_counts(mnist_train, size):
    sub = balanced_subset(mnist_train, size, seed=3)
    counts = sub.class_counts()
    assert len(sub) == size and counts.sum() == size
    assert counts.max() - counts.min() == (0 if size % 10 == 0 else 1)
    assert (counts == size // 10 + 1).sum() == size % 10


def test_balanced_subset_is_seeded_and_nested(mnist_train):
    a, b = balanced_subset(mnist_train, 600, seed=1), balanced_subset(mnist_train, 600, seed=1)
    c = balanced_subset(mnist_train, 600, seed=2)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)
    big = balanced_subset(mnist_train, 1800, seed=1)
    small_rows = {bytes(img.numpy()) for img in a.images}
    assert small_rows <= {bytes(img.numpy()) for img in big.images}  # 600 inside 1800: curves are less noisy


def test_balanced_subset_too_large_is_explained(mnist_train):
    with pytest.raises(ValueError, match="largest balanced subset is 54210"):
        balanced_subset(mnist_train, 59_000)
    assert len(balanced_subset(mnist_train, 60_000)) == 60_000  # asking for everything returns everything


def test_train_val_split_is_stratified_and_disjoint(mnist_train):
    sub = balanced_subset(mnist_train, 2000, seed=0)
    train, val = train_val_split(sub, 0.2, seed=0)
    assert len(train) == 1600 and len(val) == 400
    assert val.class_counts().tolist() == [40] * 10
    keys = lambda d: {bytes(i.numpy()) for i in d.images}
    assert not keys(train) & keys(val)


def test_batches_cover_the_data_once(mnist_train):
    sub = mnist_train[:1000]
    g = torch.Generator().manual_seed(0)
    labels = torch.cat([y for _, y in sub.batches(128, shuffle=True, generator=g)])
    assert len(labels) == 1000 and torch.equal(labels.sort().values, sub.labels.sort().values)


def test_augmentation_is_right_for_digits(mnist_train):
    aug = default_augmentation("mnist")
    assert not aug.hflip                        # a mirrored 2 or 7 is not a digit
    assert default_augmentation("fashion_mnist").hflip
    x = mnist_train[:64].images.float() / 255
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    y1, y2 = aug(x, g1), aug(x, g2)
    assert y1.shape == x.shape and torch.equal(y1, y2)           # seeded
    assert not torch.allclose(y1, x)                              # it changes the images...
    ink = x.sum((1, 2, 3))
    assert torch.allclose(y1.sum((1, 2, 3)), ink, rtol=0.35)      # ...but keeps the digit's ink


def test_identity_augmentation_changes_nothing():
    x = torch.rand(4, 1, 28, 28)
    torch.testing.assert_close(BatchAugment()(x), x, atol=1e-5, rtol=1e-5)


def test_fashion_mnist_offline():
    try:
        data = load_dataset("fashion-mnist", "test", download=False)
    except DatasetNotFoundError:
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    assert data.images.shape == (10_000, 1, 28, 28) and data.class_counts().tolist() == [1000] * 10
    assert data.classes[9] == "Ankle boot"


def test_missing_data_set_error_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                         # no shared/ folder near here
    monkeypatch.setenv("COURSE_LOCAL_DATA", str(tmp_path / "nothing"))
    monkeypatch.setattr("course_utils.data.local_copy_candidates", lambda name: [tmp_path / "nothing"])
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("mnist", root=tmp_path / "root", download=False)
    message = str(info.value)
    assert "MNIST (train) is not on this machine" in message
    assert str(tmp_path / "root" / "MNIST" / "raw") in message
    assert "What to do" in message and "connect to the internet" in message
    with pytest.raises(ValueError, match="Unknown data set 'imagenet'. Available: mnist, fashion_mnist, cifar10"):
        dataset_name("imagenet")
    with pytest.raises(ValueError, match="split must be"):
        load_dataset("mnist", "val")
