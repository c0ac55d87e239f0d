"""The in-memory shape every dataset loader returns: labelled splits, shifted sets, OOD sets."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch


@dataclass(frozen=True)
class LabelledSet:
    """Inputs and integer class labels of one split."""

    inputs: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device) -> LabelledSet:
        """This split with both tensors on ``device``."""
        return LabelledSet(self.inputs.to(device), self.labels.to(device))


@dataclass(frozen=True)
class DatasetSplits:
    """Train/val/test splits, shifted sets by (corruption, severity) and OOD inputs by name.

    ``target_size`` is the number of classes (classification) or of target dimensions (regression).
    """

    train: LabelledSet
    val: LabelledSet
    test: LabelledSet
    target_size: int
    likelihood: str = "classification"
    shift: dict[tuple[str, int], LabelledSet] = field(default_factory=dict)
    ood: dict[str, torch.Tensor] = field(default_factory=dict)

    def to(self, device: torch.device) -> DatasetSplits:
        """The train/val/test splits on ``device``; shifted and OOD sets stay where they are."""
        return replace(self, train=self.train.to(device), val=self.val.to(device), test=self.test.to(device))

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, without the batch dimension."""
        return tuple(self.train.inputs.shape[1:])
