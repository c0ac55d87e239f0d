"""CIFAR-10/100 and MNIST/Fashion-MNIST with the papers' splits, shifted sets and OOD sets.

Every loader reads a local ``data_dir`` (torchvision's root layout, see ``image_files``); with
``download: true`` the pipeline first fetches the missing files through torchvision. CIFAR: 2,000
validation images split off the training set by a fixed permutation (seed 0), shift from the
published CIFAR-10-C/100-C files or generated in code, OOD SVHN + CIFAR-100 (for CIFAR-10) or
SVHN + CIFAR-10 (for CIFAR-100). MNIST: 5,000 validation images, OOD Fashion-MNIST and back.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from bdlsweep.trainables.data.files import DataOptionError
from bdlsweep.trainables.data.image_files import (
    locate_cifar,
    locate_corrupted,
    locate_idx,
    locate_svhn,
    read_cifar,
    read_corrupted,
    read_idx,
    read_svhn,
)
from bdlsweep.trainables.data.image_sets import ShiftSource, image_splits, to_unit_float
from bdlsweep.trainables.data.splits import DatasetSplits, LabelledSet

OodSet = Literal["svhn", "cifar10", "cifar100", "mnist", "fashion_mnist"]
GENERATED_CORRUPTIONS = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "contrast",
    "brightness",
    "pixelate",
    "jpeg_compression",
)
TEST_READERS: dict[str, Callable[[str | Path], tuple[np.ndarray, np.ndarray]]] = {
    "svhn": read_svhn,
    "cifar10": lambda root: read_cifar(root, "cifar10", "test"),
    "cifar100": lambda root: read_cifar(root, "cifar100", "test"),
    "mnist": lambda root: read_idx(root, "mnist", "test"),
    "fashion_mnist": lambda root: read_idx(root, "fashion_mnist", "test"),
}
TEST_LOCATORS: dict[str, Callable[[str | Path], object]] = {
    "svhn": locate_svhn,
    "cifar10": lambda root: locate_cifar(root, "cifar10", "test"),
    "cifar100": lambda root: locate_cifar(root, "cifar100", "test"),
    "mnist": lambda root: locate_idx(root, "mnist", "test"),
    "fashion_mnist": lambda root: locate_idx(root, "fashion_mnist", "test"),
}
CORRUPTED_KINDS = ("cifar10", "cifar100")
TORCHVISION_CLASSES = {
    "svhn": "SVHN",
    "cifar10": "CIFAR10",
    "cifar100": "CIFAR100",
    "mnist": "MNIST",
    "fashion_mnist": "FashionMNIST",
}
IMAGE_SHAPES = {
    "svhn": (3, 32, 32),
    "cifar10": (3, 32, 32),
    "cifar100": (3, 32, 32),
    "mnist": (1, 28, 28),
    "fashion_mnist": (1, 28, 28),
}


def _ood_builders(data_dir: str, dataset: str, names: list[str]) -> dict[str, Callable[[], torch.Tensor]]:
    """Builders of each OOD set's test images in [0, 1], checked to have the dataset's image shape."""
    for name in names:
        if IMAGE_SHAPES[name] != IMAGE_SHAPES[dataset]:
            raise DataOptionError(
                "ood",
                f"OOD set {name} has images {IMAGE_SHAPES[name]} but {dataset} has {IMAGE_SHAPES[dataset]}",
            )

    def build(name: str) -> Callable[[], torch.Tensor]:
        return lambda: to_unit_float(TEST_READERS[name](data_dir)[0], channels_last=True)

    return {name: build(name) for name in names}


def _corrupted_builders(
    data_dir: str, kind: Literal["cifar10", "cifar100"], corruptions: list[str] | None
) -> dict[tuple[str, int], Callable[[], LabelledSet]]:
    """Builders of the published corrupted test sets, one per (corruption, severity)."""
    paths = locate_corrupted(data_dir, kind, corruptions)

    def build(name: str, severity: int) -> Callable[[], LabelledSet]:
        def read() -> LabelledSet:
            images, labels = read_corrupted(paths, name, severity)
            return LabelledSet(to_unit_float(images, channels_last=True), torch.from_numpy(labels))

        return read

    return {(name, s): build(name, s) for name in paths if name != "labels" for s in range(1, 6)}


def _load_cifar(
    kind: Literal["cifar10", "cifar100"],
    num_classes: int,
    data_dir: str,
    val_size: int,
    split_seed: int,
    train_subset: int | None,
    shift: ShiftSource,
    corruptions: tuple[str, ...] | None,
    ood: tuple[OodSet, ...],
) -> DatasetSplits:
    files = _corrupted_builders(data_dir, kind, corruptions) if shift == "files" else {}
    generated = list(corruptions or GENERATED_CORRUPTIONS) if shift == "generated" else []
    return image_splits(
        read_cifar(data_dir, kind, "train"),
        read_cifar(data_dir, kind, "test"),
        num_classes,
        channels_last=True,
        val_size=val_size,
        split_seed=split_seed,
        train_subset=train_subset,
        shift=files,
        corruptions=generated,
        ood=_ood_builders(data_dir, kind, list(ood)),
        augment_padding=4,
    )


def load_cifar10(
    data_dir: str,
    val_size: int = 2000,
    split_seed: int = 0,
    train_subset: int | None = None,
    shift: ShiftSource = "files",
    corruptions: tuple[str, ...] | None = None,
    ood: tuple[OodSet, ...] = ("svhn", "cifar100"),
    download: bool = False,
) -> DatasetSplits:
    """CIFAR-10; shift from ``CIFAR-10-C`` (``files``) or generated corruptions; OOD SVHN and CIFAR-100."""
    return _load_cifar("cifar10", 10, data_dir, val_size, split_seed, train_subset, shift, corruptions, ood)


def load_cifar100(
    data_dir: str,
    val_size: int = 2000,
    split_seed: int = 0,
    train_subset: int | None = None,
    shift: ShiftSource = "files",
    corruptions: tuple[str, ...] | None = None,
    ood: tuple[OodSet, ...] = ("svhn", "cifar10"),
    download: bool = False,
) -> DatasetSplits:
    """CIFAR-100 (fine labels); shift from ``CIFAR-100-C`` or generated; OOD SVHN and CIFAR-10."""
    return _load_cifar("cifar100", 100, data_dir, val_size, split_seed, train_subset, shift, corruptions, ood)


def _load_idx(
    kind: Literal["mnist", "fashion_mnist"],
    data_dir: str,
    val_size: int,
    split_seed: int,
    train_subset: int | None,
    corruptions: tuple[str, ...],
    ood: tuple[OodSet, ...],
) -> DatasetSplits:
    return image_splits(
        read_idx(data_dir, kind, "train"),
        read_idx(data_dir, kind, "test"),
        10,
        channels_last=True,
        val_size=val_size,
        split_seed=split_seed,
        train_subset=train_subset,
        corruptions=list(corruptions),
        ood=_ood_builders(data_dir, kind, list(ood)),
    )


def load_mnist(
    data_dir: str,
    val_size: int = 5000,
    split_seed: int = 0,
    train_subset: int | None = None,
    corruptions: tuple[str, ...] = GENERATED_CORRUPTIONS,
    ood: tuple[OodSet, ...] = ("fashion_mnist",),
    download: bool = False,
) -> DatasetSplits:
    """MNIST from torchvision's raw IDX files; shift generated in code (MNIST-C style); OOD Fashion-MNIST."""
    return _load_idx("mnist", data_dir, val_size, split_seed, train_subset, corruptions, ood)


def load_fashion_mnist(
    data_dir: str,
    val_size: int = 5000,
    split_seed: int = 0,
    train_subset: int | None = None,
    corruptions: tuple[str, ...] = GENERATED_CORRUPTIONS,
    ood: tuple[OodSet, ...] = ("mnist",),
    download: bool = False,
) -> DatasetSplits:
    """Fashion-MNIST from torchvision's raw IDX files; shift generated in code; OOD MNIST."""
    return _load_idx("fashion_mnist", data_dir, val_size, split_seed, train_subset, corruptions, ood)


def locate_image_dataset(name: str, options: dict) -> None:
    """Raise ``MissingDataFileError`` unless every file dataset ``name`` reads with ``options`` is there.

    ``options`` are complete (defaults filled in), as the registry passes them.
    """
    data_dir = options["data_dir"]
    TEST_LOCATORS[name](data_dir)
    if name in CORRUPTED_KINDS:
        locate_cifar(data_dir, name, "train")
        if options["shift"] == "files":
            locate_corrupted(data_dir, name, options["corruptions"])
    else:
        locate_idx(data_dir, name, "train")
    for ood_name in options["ood"]:
        TEST_LOCATORS[ood_name](data_dir)


def download_image_dataset(name: str, options: dict) -> None:
    """Fetch the dataset and its OOD sets into ``data_dir`` with torchvision (needs a network).

    The corrupted CIFAR sets have no torchvision class; ``locate_image_dataset`` names their source.
    """
    import torchvision  # here: torchvision costs every trial ~2 s to import, and only downloads need it

    root = str(Path(options["data_dir"]).expanduser())
    for source in [name, *options["ood"]]:
        dataset_class = getattr(torchvision.datasets, TORCHVISION_CLASSES[source])
        if source == "svhn":
            dataset_class(root, split="test", download=True)
            continue
        for train in (True, False):
            dataset_class(root, train=train, download=True)
