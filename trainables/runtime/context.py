"""What a trial needs besides its hyper-parameters: data, model recipe, upstream checkpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from bdlsweep.trainables.data import DatasetSplits, load_dataset
from bdlsweep.trainables.data.splits import with_validation_in_training
from bdlsweep.trainables.inference.likelihoods import LIKELIHOODS
from bdlsweep.trainables.posteriors.base import ModelRecipe


@dataclass(frozen=True)
class TrialContext:
    """Shared by every trial of a stage; passed with ``tune.with_parameters``.

    ``parents`` maps each seed to the selected checkpoint folder of the stage this one starts from;
    ``prepared`` maps each seed to a folder of per-seed work done once before the trials (for
    example cached features and the Laplace Hessian). ``refit``: the trials train on the training and
    validation sets together (a selected configuration trained again, see ``sweeps/refit.py``).
    ``parent_scores`` maps each seed to the validation scores of its parent checkpoint, which a trial's
    reports are held against (see ``reporting.beyond_parent``).
    """

    sweep: str
    stage: str
    dataset: str
    dataset_options: dict[str, Any]
    model: str
    model_options: dict[str, Any]
    parents: dict[int, str] = field(default_factory=dict)
    prepared: dict[int, str] = field(default_factory=dict)
    refit: bool = False
    parent_scores: dict[int, dict[str, float]] = field(default_factory=dict)

    def load_data(self, device: torch.device | None = None, train_on_device: bool = True) -> DatasetSplits:
        """The stage's dataset with val/test tensors, and train ones if ``train_on_device``, on ``device``
        (for a refit, training on train + validation)."""
        splits = load_dataset(self.dataset, self.dataset_options)
        if self.refit:
            splits = with_validation_in_training(splits)
        if device is None or device.type == "cpu":
            return splits
        return splits.to(device, train=train_on_device)

    def recipe(
        self, splits: DatasetSplits, overrides: dict[str, Any] | None = None, name: str | None = None
    ) -> ModelRecipe:
        """The recipe of this stage's architecture (or ``name``) on ``splits``, with option ``overrides``."""
        options = {**self.model_options, **splits.model_arguments, **(overrides or {})}
        outputs = LIKELIHOODS[splits.likelihood].num_outputs(splits.target_size)
        return ModelRecipe(name or self.model, options, splits.input_shape, outputs, splits.likelihood)

    def parent(self, seed: int) -> str:
        """The upstream checkpoint folder of ``seed``."""
        if seed not in self.parents:
            raise KeyError(f"stage {self.stage!r}: no upstream checkpoint for seed {seed}")
        return self.parents[seed]
