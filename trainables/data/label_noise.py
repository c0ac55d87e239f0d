"""Randomly relabelled training data (Zhang et al. 2017; Wilson & Izmailov's 2020 corrupted-label
arrays): a fixed share of the examples get a uniformly random class, to see whether a model can fit
noise."""

from __future__ import annotations

from dataclasses import replace

import torch

from bdlsweep.trainables.data.splits import DatasetSplits, LabelledSet

LABEL_NOISE_SEED = 0


def relabelled(
    labels: torch.Tensor, fraction: float, num_classes: int, seed: int = LABEL_NOISE_SEED
) -> torch.Tensor:
    """A copy of ``labels`` where round(``fraction`` · N) examples, chosen by a permutation seeded by
    ``seed``, have a class drawn uniformly from all ``num_classes`` (it may equal the true one)."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"the relabelled fraction must be in [0, 1] (got {fraction})")
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(labels), generator=generator)[: round(fraction * len(labels))]
    noisy = labels.cpu().clone()
    noisy[chosen] = torch.randint(0, num_classes, (len(chosen),), generator=generator)
    return noisy.to(labels.device)


def with_label_noise(splits: DatasetSplits, fraction: float) -> DatasetSplits:
    """``splits`` with ``fraction`` of the training labels relabelled; validation and test untouched."""
    if fraction == 0:
        return splits
    if splits.likelihood != "classification":
        raise ValueError("label_noise relabels classes: the dataset must be a classification set")
    train = LabelledSet(splits.train.inputs, relabelled(splits.train.labels, fraction, splits.target_size))
    return replace(splits, train=train)
