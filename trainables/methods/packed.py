"""Packed-Ensembles as a method: the sweep's model packed into M estimators, trained once, sampled by
estimator.

Each stage trains the packed twin of the sweep's model (``mlp`` → ``packed_mlp``, ``lenet5`` →
``packed_lenet5``) with the model's options and the stage's α (width factor), M (``num_estimators``)
and γ (groups per estimator), on the mean of the M estimators' losses.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from pydantic import Field

from bdlsweep.trainables.inference.likelihoods import Likelihood
from bdlsweep.trainables.inference.network_weights import EVAL_BATCH_SIZE
from bdlsweep.trainables.method import Method, count_epoch_reports
from bdlsweep.trainables.posteriors.base import NetworkPosterior
from bdlsweep.trainables.posteriors.stored_samples import replay_order
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.network_fit import NetworkSettings, fit_network
from bdlsweep.trainables.runtime.trial_loop import start_trial

PACKED_MODELS = {"mlp": "packed_mlp", "lenet5": "packed_lenet5"}


class PackedSettings(NetworkSettings):
    """MAP settings plus the Packed-Ensemble's α, M and γ (TorchUncertainty's tutorial: 2, 4, 1)."""

    alpha: float = Field(2.0, gt=0)
    """Width factor α of the packed layers."""
    num_estimators: int = Field(4, gt=1)
    """Number of estimators M packed into one network."""
    gamma: int = Field(1, gt=0)
    """Groups γ per estimator in the packed convolutions."""
    val_samples: int = Field(4, gt=0)
    """Samples per validation (one per estimator)."""


class PerEstimatorLoss:
    """The base likelihood's loss averaged over the M estimators of a packed output ``[N, M · K]``."""

    def __init__(self, base: Likelihood, num_estimators: int) -> None:
        self.base = base
        self.num_estimators = num_estimators

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        split = outputs.reshape(len(outputs) * self.num_estimators, -1)
        return self.base.loss(split, targets.repeat_interleave(self.num_estimators, dim=0))


class PackedPosterior(NetworkPosterior):
    """A Packed-Ensemble; ``predict`` gives its estimators' predictives (random order, repeated as needed)."""

    method: ClassVar[str] = "packed"

    @torch.no_grad()
    def estimators(self, inputs: torch.Tensor) -> torch.Tensor:
        """Every estimator's predictive ``[M, N, K]``."""
        self.model.eval()
        count = self.model.num_estimators
        chunks = []
        for start in range(0, len(inputs), EVAL_BATCH_SIZE):
            outputs = self.model(inputs[start : start + EVAL_BATCH_SIZE])
            chunks.append(self.recipe.output_model.predictive(outputs.reshape(len(outputs), count, -1)))
        return torch.cat(chunks).transpose(0, 1)

    def predict(self, inputs: torch.Tensor, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        outputs = self.estimators(inputs)
        return outputs[replay_order(len(outputs), num_samples, generator).to(outputs.device)]


def train_packed(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune trainable: train the packed network on the mean estimator loss; validate its estimators."""
    start = start_trial(config, PackedSettings)
    settings = start.settings
    packing = {"alpha": settings.alpha, "num_estimators": settings.num_estimators, "gamma": settings.gamma}
    fit_network(
        start,
        context,
        PackedPosterior,
        packing,
        PACKED_MODELS[context.model],
        lambda base: PerEstimatorLoss(base, settings.num_estimators),
    )


METHOD = Method(
    name="packed",
    display_name="Packed-Ens.",
    settings=PackedSettings,
    steps=count_epoch_reports,
    trainable=train_packed,
    posterior=PackedPosterior,
    checkpoint="best",
    models=tuple(PACKED_MODELS),
    tiny={"num_estimators": 2, "epochs": 2, "batch_size": 256},
    paper=(
        'Laurent, Lafage, Tartaglione, Daniel, Martinez, Bursuc & Franchi (2023), "Packed-Ensembles for '
        'Efficient Uncertainty Estimation", ICLR'
    ),
)
