"""Turns raw image arrays (train, test, shifted, OOD) into normalised ``DatasetSplits``.

Shared by every image dataset: a validation split cut off the training images by a fixed
permutation, per-channel normalisation from the training part, shifted and OOD sets built lazily
(one at a time, at evaluation), and the crop + flip augmentation of the papers' CIFAR training.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from bdlsweep.trainables.data.corruptions import CORRUPTIONS, corrupt
from bdlsweep.trainables.data.files import DataOptionError
from bdlsweep.trainables.data.splits import DatasetSplits, LabelledSet, LazySets

ShiftSource = Literal["files", "generated", "none"]
RawImages = tuple[np.ndarray, np.ndarray]


def to_unit_float(images: np.ndarray | torch.Tensor, channels_last: bool) -> torch.Tensor:
    """uint8 images (``[N, H, W, C]`` when ``channels_last``, else ``[N, C, H, W]``) as floats in [0, 1]."""
    tensor = torch.as_tensor(np.ascontiguousarray(images))
    if channels_last:
        tensor = tensor.permute(0, 3, 1, 2)
    return tensor.contiguous().to(torch.float32) / 255.0


@dataclass(frozen=True)
class ChannelNormalisation:
    """Per-channel mean and standard deviation of the training images."""

    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def of(cls, images: torch.Tensor) -> ChannelNormalisation:
        """The statistics of ``images`` ``[N, C, H, W]``."""
        return cls(images.mean(dim=(0, 2, 3)), images.std(dim=(0, 2, 3)).clamp(min=1e-6))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean[:, None, None]) / self.std[:, None, None]


@dataclass(frozen=True)
class CropFlip:
    """Random crop after zero-padding (black, in normalised units) plus random horizontal flip, on a batch.

    All randomness is drawn from the trial's CPU generator, so augmentation is reproducible; the
    crop is one gather on the batch's own device.
    """

    padding: int
    fill: torch.Tensor

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        count, channels, height, width = images.shape
        pad = self.padding
        fill = self.fill.to(images.device, images.dtype)[None, :, None, None]
        padded = fill.expand(count, channels, height + 2 * pad, width + 2 * pad).clone()
        padded[:, :, pad : pad + height, pad : pad + width] = images
        offsets = torch.randint(0, 2 * pad + 1, (2, count), generator=generator).to(images.device)
        rows = (offsets[0][:, None] + torch.arange(height, device=images.device))[:, None, :, None]
        cols = (offsets[1][:, None] + torch.arange(width, device=images.device))[:, None, None, :]
        batch = torch.arange(count, device=images.device)[:, None, None, None]
        channel = torch.arange(channels, device=images.device)[None, :, None, None]
        cropped = padded[batch, channel, rows, cols]
        flip = (torch.rand(count, generator=generator) < 0.5).to(images.device)[:, None, None, None]
        return torch.where(flip, cropped.flip(-1), cropped)


def validation_split(count: int, val_size: int, split_seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, validation) indices of ``count`` training examples, by a fixed permutation."""
    if not 0 < val_size < count:
        raise DataOptionError("val_size", f"val_size must be in 1..{count - 1} (got {val_size})")
    order = torch.randperm(count, generator=torch.Generator().manual_seed(split_seed))
    return order[val_size:], order[:val_size]


def generated_shift(
    test: LabelledSet, corruptions: list[str], severities: tuple[int, ...], seed: int
) -> dict[tuple[str, int], Callable[[], LabelledSet]]:
    """Builders of the test images (in [0, 1]) under each corruption and severity, computed in code."""
    for name in corruptions:
        if name not in CORRUPTIONS:
            known = ", ".join(CORRUPTIONS)
            raise DataOptionError("corruptions", f"unknown corruption {name!r}; known: {known}")

    def build(name: str, severity: int) -> Callable[[], LabelledSet]:
        return lambda: LabelledSet(corrupt(test.inputs, name, severity, seed + severity), test.labels)

    return {(name, severity): build(name, severity) for name in corruptions for severity in severities}


def image_splits(
    train: RawImages,
    test: RawImages,
    num_classes: int,
    *,
    channels_last: bool,
    val_size: int,
    split_seed: int,
    train_subset: int | None = None,
    shift: Mapping[tuple[str, int], Callable[[], LabelledSet]] | None = None,
    corruptions: list[str] | None = None,
    severities: tuple[int, ...] = (1, 2, 3, 4, 5),
    ood: Mapping[str, Callable[[], torch.Tensor]] | None = None,
    augment_padding: int | None = None,
) -> DatasetSplits:
    """Normalised train/val/test splits; ``shift`` and ``ood`` builders return images in [0, 1].

    ``shift`` holds shifted sets read from files; ``corruptions`` adds sets generated in code from
    the test images at each of ``severities``. ``train_subset`` keeps the first that many training
    examples after the validation split (bnn_hmc's ``subset_train_to``). Normalisation statistics
    come from the kept training images.
    """
    images = to_unit_float(train[0], channels_last)
    labels = torch.as_tensor(np.asarray(train[1]), dtype=torch.int64)
    train_index, val_index = validation_split(len(labels), val_size, split_seed)
    if train_subset is not None:
        train_index = train_index[:train_subset]
    normalise = ChannelNormalisation.of(images[train_index])
    raw_test = LabelledSet(to_unit_float(test[0], channels_last), torch.as_tensor(np.asarray(test[1])).long())
    shift = {**(shift or {}), **generated_shift(raw_test, corruptions or [], severities, split_seed)}

    def normalised_shift(build: Callable[[], LabelledSet]) -> Callable[[], LabelledSet]:
        return lambda: (lambda raw: LabelledSet(normalise(raw.inputs), raw.labels))(build())

    def normalised_ood(build: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
        return lambda: normalise(build())

    augment = None
    if augment_padding is not None:
        augment = CropFlip(augment_padding, -normalise.mean / normalise.std)
    return DatasetSplits(
        train=LabelledSet(normalise(images[train_index]), labels[train_index]),
        val=LabelledSet(normalise(images[val_index]), labels[val_index]),
        test=LabelledSet(normalise(raw_test.inputs), raw_test.labels),
        target_size=num_classes,
        shift=LazySets({key: normalised_shift(build) for key, build in shift.items()}),
        ood=LazySets({name: normalised_ood(build) for name, build in (ood or {}).items()}),
        augment=augment,
    )
