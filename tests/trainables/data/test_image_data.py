"""Image loaders read fake copies in the public formats: shapes, labels, splits, shift and OOD sets."""

import pickle

import numpy as np
import pytest
import torch
from fake_data import write_cifar, write_corrupted, write_idx, write_svhn

from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.data.corruptions import CORRUPTIONS, corrupt
from bdlsweep.trainables.data.digits import bundled_digits
from bdlsweep.trainables.data.files import MissingDataFileError
from bdlsweep.trainables.data.image_sets import CropFlip
from bdlsweep.trainables.data.registry import locate_dataset


def assert_channelwise_affine(raw: torch.Tensor, normalised: torch.Tensor) -> None:
    """Each channel of ``normalised`` is an increasing affine map of the same channel of ``raw``."""
    for channel in range(raw.shape[1]):
        x, y = raw[:, channel].flatten().double(), normalised[:, channel].flatten().double()
        slope = ((x - x.mean()) * (y - y.mean())).mean() / x.var(unbiased=False)
        assert slope > 0
        assert torch.allclose(y, slope * (x - x.mean()) + y.mean(), atol=1e-4)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_cifar(root, "cifar10")
    write_cifar(root, "cifar100", per_batch=30)
    write_corrupted(root, "CIFAR-10-C", ["gaussian_noise", "fog"], per_severity=20)
    write_svhn(root)
    write_idx(root, "mnist")
    write_idx(root, "fashion_mnist", compress=True)
    return root


def test_a_cifar_batch_pickled_with_bytes_keys_reads_the_same(data_dir, tmp_path):
    from bdlsweep.trainables.data.image_files import read_cifar

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with (data_dir / "cifar-10-batches-py" / name).open("rb") as handle:
            batch = pickle.load(handle)
        with (folder / name).open("wb") as handle:
            pickle.dump({key.encode(): value for key, value in batch.items()}, handle, protocol=2)
    for split in ("train", "test"):
        ours, theirs = read_cifar(tmp_path, "cifar10", split), read_cifar(data_dir, "cifar10", split)
        for mine, expected in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(mine, expected)


def test_cifar10_reads_pickles_in_the_published_layout(data_dir):
    data = load_dataset("cifar10", {"data_dir": str(data_dir), "val_size": 20})
    assert data.input_shape == (3, 32, 32) and data.target_size == 10
    assert (len(data.train), len(data.val), len(data.test)) == (180, 20, 50)
    with (data_dir / "cifar-10-batches-py" / "test_batch").open("rb") as handle:
        batch = pickle.load(handle)
    raw = torch.tensor(batch["data"], dtype=torch.float32).reshape(-1, 3, 32, 32) / 255
    assert data.test.labels.tolist() == batch["labels"]
    assert_channelwise_affine(raw, data.test.inputs)
    assert data.train.inputs.mean(dim=(0, 2, 3)).abs().max() < 1e-4
    assert data.train.inputs.std(dim=(0, 2, 3)).sub(1).abs().max() < 1e-3
    assert set(data.shift) == {(name, s) for name in ("fog", "gaussian_noise") for s in range(1, 6)}
    severe = data.shift[("fog", 5)]
    corrupted = torch.tensor(np.load(data_dir / "CIFAR-10-C" / "fog.npy")[80:100], dtype=torch.float32)
    assert severe.inputs.shape == (20, 3, 32, 32)
    assert severe.labels.tolist() == np.load(data_dir / "CIFAR-10-C" / "labels.npy")[80:100].tolist()
    assert_channelwise_affine(corrupted.permute(0, 3, 1, 2), severe.inputs)
    assert set(data.ood) == {"svhn", "cifar100"}
    assert data.ood["svhn"].shape == (30, 3, 32, 32) and data.ood["cifar100"].shape == (50, 3, 32, 32)


def test_validation_split_is_fixed_by_split_seed(data_dir):
    options = {"data_dir": str(data_dir), "val_size": 20, "shift": "none", "ood": []}
    first, again = load_dataset("cifar10", options), load_dataset("cifar10", options)
    other = load_dataset("cifar10", {**options, "split_seed": 1})
    assert torch.equal(first.val.labels, again.val.labels) and torch.equal(first.val.inputs, again.val.inputs)
    assert not torch.equal(first.val.inputs, other.val.inputs)
    subset = load_dataset("cifar10", {**options, "train_subset": 64})
    assert len(subset.train) == 64 and torch.equal(subset.val.labels, first.val.labels)


def test_cifar100_fine_labels_and_generated_shift(data_dir):
    options = {"data_dir": str(data_dir), "val_size": 10, "shift": "generated", "corruptions": ["contrast"]}
    data = load_dataset("cifar100", options)
    assert data.target_size == 100 and len(data.train) == 140
    with (data_dir / "cifar-100-python" / "test").open("rb") as handle:
        assert data.test.labels.tolist() == pickle.load(handle)["fine_labels"]
    assert set(data.shift) == {("contrast", s) for s in range(1, 6)}
    assert set(data.ood) == {"svhn", "cifar10"}


def test_svhn_maps_label_ten_to_zero(data_dir):
    from bdlsweep.trainables.data.image_files import read_svhn

    images, labels = read_svhn(data_dir)
    stored = torch.tensor(__import__("scipy.io").io.loadmat(data_dir / "test_32x32.mat")["y"]).reshape(-1)
    assert images.shape == (30, 32, 32, 3) and labels.max() <= 9
    assert labels.tolist() == (stored % 10).tolist()


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_idx_files_plain_and_gzipped(data_dir, name):
    data = load_dataset(name, {"data_dir": str(data_dir), "val_size": 20, "corruptions": ["shot_noise"]})
    assert data.input_shape == (1, 28, 28)
    assert (len(data.train), len(data.val), len(data.test)) == (100, 20, 40)
    assert set(data.shift) == {("shot_noise", s) for s in range(1, 6)}
    other = "fashion_mnist" if name == "mnist" else "mnist"
    assert list(data.ood) == [other] and data.ood[other].shape == (40, 1, 28, 28)


def test_missing_file_names_file_place_and_source(tmp_path, data_dir):
    with pytest.raises(MissingDataFileError) as caught:
        locate_dataset("cifar10", {"data_dir": str(tmp_path)})
    message = str(caught.value)
    assert "cifar-10-batches-py/test_batch" in message and str(tmp_path) in message
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in message
    with pytest.raises(MissingDataFileError, match=r"CIFAR-100-C/labels\.npy.*zenodo"):
        locate_dataset("cifar100", {"data_dir": str(data_dir)})
    locate_dataset("cifar100", {"data_dir": str(data_dir), "shift": "generated"})


def test_ood_set_of_another_image_shape_is_refused(data_dir):
    with pytest.raises(ValueError, match="OOD set svhn has images"):
        load_dataset("mnist", {"data_dir": str(data_dir), "ood": ["svhn"]})


def test_corruptions_keep_range_and_grow_with_severity():
    images = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for name in CORRUPTIONS:
        distances = []
        for severity in range(1, 6):
            out = corrupt(images, name, severity, seed=0)
            assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
            distances.append(float((out - images).abs().mean()))
        assert distances[4] > distances[0] > 0, name


def test_brightness_raises_hsv_value_and_keeps_hue():
    import colorsys

    pixel = torch.tensor([0.2, 0.4, 0.1]).reshape(1, 3, 1, 1)
    out = corrupt(pixel, "brightness", 3, seed=0).reshape(3).tolist()
    hue, saturation, value = colorsys.rgb_to_hsv(0.2, 0.4, 0.1)
    assert colorsys.rgb_to_hsv(*out) == pytest.approx((hue, saturation, value + 0.15))


def test_crop_flip_is_a_shifted_window_of_the_padded_image():
    images = torch.arange(32 * 1 * 4 * 4, dtype=torch.float32).reshape(32, 1, 4, 4)
    augment = CropFlip(2, torch.tensor([-1.0]))
    out = augment(images, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2), value=-1.0)
    offsets, flipped = set(), 0
    for index in range(len(images)):
        windows = {(r, c): padded[index, :, r : r + 4, c : c + 4] for r in range(5) for c in range(5)}
        found = [
            (offset, flip)
            for offset, window in windows.items()
            for flip in (False, True)
            if torch.equal(out[index], window.flip(-1) if flip else window)
        ]
        assert found, index  # a window of the padded image, mirrored or not
        offsets |= {found[0][0]} if len(found) == 1 else set()
        flipped += all(flip for _, flip in found)
    assert len(offsets - {(2, 2)}) > 5  # cropped at many offsets, not the uncropped window
    assert 0 < flipped < len(images)  # mirrored sometimes, not always


def test_download_asks_torchvision_for_the_dataset_and_its_ood_sets(monkeypatch, tmp_path):
    from bdlsweep.trainables.data import image_datasets
    from bdlsweep.trainables.data.registry import download_dataset

    calls = []

    def recorder(name):
        return lambda root, **kwargs: calls.append((name, root, tuple(sorted(kwargs.items()))))

    import torchvision

    for name, class_name in image_datasets.TORCHVISION_CLASSES.items():
        monkeypatch.setattr(torchvision.datasets, class_name, recorder(name))
    download_dataset("cifar10", {"data_dir": str(tmp_path), "shift": "generated"})
    assert calls == []
    download_dataset("cifar10", {"data_dir": str(tmp_path), "download": True})
    root = str(tmp_path)
    assert calls == [
        ("cifar10", root, (("download", True), ("train", True))),
        ("cifar10", root, (("download", True), ("train", False))),
        ("svhn", root, (("download", True), ("split", "test"))),
        ("cifar100", root, (("download", True), ("train", True))),
        ("cifar100", root, (("download", True), ("train", False))),
    ]


def test_bundled_digits_equal_scikit_learns_loader():
    from sklearn.datasets import load_digits as sklearn_digits

    images, labels = bundled_digits()
    reference = sklearn_digits()
    np.testing.assert_array_equal(images, reference.images)
    np.testing.assert_array_equal(labels, reference.target)


def test_digits_resized_for_mnist_architectures_are_the_8x8_sets_resized():
    from torch.nn.functional import interpolate

    from bdlsweep.trainables.data.digits import load_digits

    small, large = load_digits(corruptions=("gaussian_noise",)), load_digits(image_size=28)
    assert large.input_shape == (1, 28, 28) and small.input_shape == (1, 8, 8)

    def resize(images: torch.Tensor) -> torch.Tensor:
        return interpolate(images, size=(28, 28), mode="bilinear", align_corners=False)

    torch.testing.assert_close(large.train.inputs, resize(small.train.inputs))
    torch.testing.assert_close(large.ood["permuted_digits"], resize(small.ood["permuted_digits"]))
    assert torch.equal(large.test.labels, small.test.labels)
    shifted = large.shift[("gaussian_noise", 3)].inputs
    assert shifted.shape == (400, 1, 28, 28) and not torch.equal(shifted, large.test.inputs)
