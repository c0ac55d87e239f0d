"""scikit-learn's bundled digits (8×8, 10 classes): the offline default, with shift and OOD sets."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from pydantic import Field

from bdlsweep.trainables.data.files import DataOptionError
from bdlsweep.trainables.data.image_sets import generated_shift
from bdlsweep.trainables.data.splits import DatasetSplits, LabelledSet, LazySets

DIGITS = 1797


def bundled_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digits as (images [N, 8, 8] in 0..16, labels [N]), read from the CSV scikit-learn ships.

    The file is read without importing scikit-learn (2 s per process, paid by every trial and
    evaluation actor); where an installation lacks the file, scikit-learn's loader is used.
    """
    images, labels = _read_digits()
    return images.copy(), labels.copy()


@functools.cache
def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    """The parsed file, once per process: an actor reused for a grid's trials loads the set for each."""
    package = importlib.util.find_spec("sklearn")
    csv = Path(package.origin).parent / "datasets" / "data" / "digits.csv.gz"
    if not csv.is_file():
        from sklearn.datasets import load_digits as sklearn_digits

        bunch = sklearn_digits()
        return bunch.images, bunch.target
    table = np.loadtxt(csv, delimiter=",")
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)


def load_digits(
    split_seed: int = 0,
    val_size: int = 300,
    test_size: int = 400,
    severities: tuple[int, ...] = (1, 2, 3, 4, 5),
    corruptions: tuple[str, ...] = ("gaussian_noise", "rotation"),
    image_size: Annotated[int, Field(ge=8)] | None = None,
) -> DatasetSplits:
    """Split digits into train/val/test by a fixed permutation; derive shifted and OOD test sets.

    Pixels are scaled to [0, 1]. Shift: each of ``corruptions`` (any name in
    ``corruptions.CORRUPTIONS``) at each severity applied to the test images, built when read.
    OOD: the test images with their 64 pixels shuffled by one fixed permutation, which keeps the
    intensity statistics but destroys every digit shape. ``image_size`` (e.g. 28) resizes every
    image bilinearly, so MNIST architectures run unchanged; corruptions apply to the resized images.
    """
    check_digits_sizes({"val_size": val_size, "test_size": test_size})
    pixels, targets = bundled_digits()
    small = torch.tensor(pixels, dtype=torch.float32).unsqueeze(1) / 16.0
    images = _resized(small, image_size)
    labels = torch.tensor(targets, dtype=torch.int64)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(split_seed))
    test_idx, val_idx = order[:test_size], order[test_size : test_size + val_size]
    train_idx = order[test_size + val_size :]
    test = LabelledSet(images[test_idx], labels[test_idx])
    shift = LazySets(generated_shift(test, list(corruptions), severities, split_seed))
    pixel_order = torch.randperm(64, generator=torch.Generator().manual_seed(split_seed + 1000))
    permuted = _resized(small[test_idx].flatten(1)[:, pixel_order].reshape(-1, 1, 8, 8), image_size)
    return DatasetSplits(
        train=LabelledSet(images[train_idx], labels[train_idx]),
        val=LabelledSet(images[val_idx], labels[val_idx]),
        test=test,
        target_size=10,
        shift=shift,
        ood={"permuted_digits": permuted},
    )


def check_digits_sizes(options: dict) -> None:
    """``DataOptionError`` unless validation and test sets leave training examples of the 1,797
    (``options`` holds both sizes: the loader's arguments, or the options completed with its defaults)."""
    val_size, test_size = options["val_size"], options["test_size"]
    if val_size + test_size >= DIGITS:
        raise DataOptionError(
            "val_size",
            f"digits has {DIGITS} images: val_size + test_size must be below it, not {val_size + test_size}",
        )


def _resized(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """``images`` resized bilinearly to ``size``×``size`` (unchanged when ``size`` is None)."""
    if size is None:
        return images
    return torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
