"""The sets an evaluation scores (test, each shifted set, each OOD set) and their grouping into
batches that fit a memory budget, the same wherever they are loaded."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.data.molecules import Molecules
from bdlsweep.trainables.inference.likelihoods import LIKELIHOODS, Likelihood

MEMORY_BUDGET_BYTES = 1 << 30


@dataclass(frozen=True)
class EvalSet:
    """One evaluation set: its split, identifying columns, inputs and labels (None for OOD); ``score``
    False for a test set kept only as the in-distribution side of the OOD metrics."""

    split: str
    where: dict[str, Any]
    inputs: torch.Tensor | Molecules
    labels: np.ndarray | None
    score: bool = True

    def __len__(self) -> int:
        return len(self.inputs)


@dataclass(frozen=True)
class SetEntry:
    """An evaluation set before it is read: its split, identifying columns, and how to build it."""

    split: str
    where: dict[str, Any]
    build: Callable[[], tuple[torch.Tensor | Molecules, np.ndarray | None]]
    score: bool = True


@dataclass(frozen=True)
class EvaluationData:
    """A dataset's evaluation sets (each read when asked for), likelihood, output width and target
    scale, its training inputs (for the batch-norm refresh of sampled weights) and its 1-D input grid."""

    entries: list[SetEntry]
    likelihood: Likelihood
    width: int
    scale: float
    train_inputs: torch.Tensor | Molecules
    curve: Any

    def set(self, index: int) -> EvalSet:
        """The ``index``-th set, read now."""
        entry = self.entries[index]
        inputs, labels = entry.build()
        return EvalSet(entry.split, entry.where, inputs, labels, entry.score)

    def read_groups(self, samples: int) -> Iterator[list[tuple[int, EvalSet]]]:
        """The sets in order, each read once, in groups of consecutive sets whose inputs and ``samples``
        outputs fit ``MEMORY_BUDGET_BYTES``; the grouping depends only on the sets' sizes, so every
        member's task forms the same groups."""
        group: list[tuple[int, EvalSet]] = []
        used = 0
        for index in range(len(self.entries)):
            item = self.set(index)
            cost = item.inputs.nbytes + 4 * samples * len(item) * self.width
            if group and used + cost > MEMORY_BUDGET_BYTES:
                yield group
                group, used = [], 0
            group.append((index, item))
            used += cost
        if group:
            yield group


def _entries(data: Any, splits: list[str]) -> Iterator[SetEntry]:
    """The test set, then each shifted and OOD set that ``splits`` asks for."""
    test = (data.test.inputs, data.test.labels.numpy())
    yield SetEntry("test", {}, lambda: test, score="test" in splits)
    if "shift" in splits:
        for corruption, severity in data.shift:

            def shifted(key=(corruption, severity)):
                item = data.shift[key]
                return item.inputs, item.labels.numpy()

            yield SetEntry("shift", {"corruption": corruption, "severity": severity}, shifted)
    if "ood" in splits:
        for name in data.ood:
            yield SetEntry("ood", {"ood_set": name}, lambda name=name: (data.ood[name], None))


@lru_cache(maxsize=2)
def _cached(dataset: str, options: str, splits: tuple[str, ...]) -> EvaluationData:
    data = load_dataset(dataset, json.loads(options))
    likelihood = LIKELIHOODS[data.likelihood]
    return EvaluationData(
        entries=list(_entries(data, list(splits))),
        likelihood=likelihood,
        width=likelihood.num_outputs(data.target_size),
        scale=data.target_scale,
        train_inputs=data.train.inputs,
        curve=data.curve,
    )


def evaluation_data(dataset: str, options: dict[str, Any], splits: list[str]) -> EvaluationData:
    """The evaluation sets of ``dataset``, loaded once per process (a Ray worker serves many tasks)."""
    return _cached(dataset, json.dumps(options, sort_keys=True), tuple(splits))
