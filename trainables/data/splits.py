"""The in-memory shape every dataset loader returns: labelled splits, shifted sets, OOD sets."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

import numpy as np
import torch

from bdlsweep.trainables.data.molecules import Molecules

Key = TypeVar("Key")
Value = TypeVar("Value")


class LazySets(Mapping, Generic[Key, Value]):
    """Evaluation sets built only when read, one at a time, so large shift/OOD sets never all sit in memory.

    Each value is made by its zero-argument builder on every access; nothing is cached.
    """

    def __init__(self, builders: Mapping[Key, Callable[[], Value]]) -> None:
        self._builders = dict(builders)

    def __getitem__(self, key: Key) -> Value:
        return self._builders[key]()

    def __iter__(self) -> Iterator[Key]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)


@dataclass(frozen=True)
class LabelledSet:
    """Inputs and labels (class indices, or regression targets) of one split."""

    inputs: torch.Tensor | Molecules
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device) -> LabelledSet:
        """This split with inputs (a tensor, or packed molecules) and labels on ``device``."""
        return LabelledSet(self.inputs.to(device), self.labels.to(device))


@dataclass(frozen=True)
class InputCurve:
    """A 1-D input grid to plot predictives over: raw x values, the model inputs at them, and the
    training points (raw x, targets in data units); standardised predictions map back to data units
    by ``target_mean`` and ``target_scale``."""

    x: np.ndarray
    inputs: torch.Tensor
    train_x: np.ndarray
    train_y: np.ndarray
    target_mean: float
    target_scale: float


@dataclass(frozen=True)
class DatasetSplits:
    """Train/val/test splits, shifted sets by (corruption, severity) and OOD inputs by name.

    ``target_size`` is the number of classes (classification) or of target dimensions (regression).
    ``augment`` is the dataset's training-time augmentation of a batch (e.g. crop + flip for CIFAR),
    applied by methods whose settings ask for it. Inputs of text sets are token ids (0 = padding).
    ``model_arguments`` are what the architecture needs from the data besides shapes (``vocab_size``).
    ``target_scale`` is the unit of standardised regression targets in the data's own units (QM9:
    eV); evaluation reports error metrics in those units. ``curve`` is set by 1-D regression sets,
    whose predictive can be drawn over x.
    """

    train: LabelledSet
    val: LabelledSet
    test: LabelledSet
    target_size: int
    likelihood: str = "classification"
    shift: Mapping[tuple[str, int], LabelledSet] = field(default_factory=dict)
    ood: Mapping[str, torch.Tensor] = field(default_factory=dict)
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
    model_arguments: dict[str, Any] = field(default_factory=dict)
    target_scale: float = 1.0
    curve: InputCurve | None = None

    def to(self, device: torch.device, train: bool = True) -> DatasetSplits:
        """The val/test splits, and the train split unless ``train`` is false, on ``device``; shifted
        and OOD sets stay where they are."""
        moved = replace(self, val=self.val.to(device), test=self.test.to(device))
        return replace(moved, train=self.train.to(device)) if train else moved

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, without the batch dimension."""
        return tuple(self.train.inputs.shape[1:])


def with_validation_in_training(splits: DatasetSplits) -> DatasetSplits:
    """``splits`` whose training set also holds the validation set, as the UCI protocol refits a tuned
    model on both; validation, test, shifted and OOD sets stay as they are (validation is now seen)."""
    train, val = splits.train, splits.val
    if isinstance(train.inputs, Molecules):
        inputs = Molecules.concat([train.inputs, val.inputs])
    else:
        inputs = torch.cat([train.inputs, val.inputs])
    return replace(splits, train=LabelledSet(inputs, torch.cat([train.labels, val.labels])))
