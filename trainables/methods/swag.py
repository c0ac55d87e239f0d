"""SWA and SWAG: constant-learning-rate SGD from a MAP checkpoint, one weight snapshot per epoch, collected
into SWAG's moments (``posteriors/swag_gaussian.py``); SWA is their mean alone."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from bdlsweep.trainables.inference.network_weights import weight_vector
from bdlsweep.trainables.method import DerivedSelection, Method, count_epoch_reports
from bdlsweep.trainables.posteriors.single_network import FixedWeightsPosterior
from bdlsweep.trainables.posteriors.swag_gaussian import SWAGMoments, SWAGPosterior, SWAPosterior
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.optimization import build_optimizer
from bdlsweep.trainables.runtime.training import for_training, train_epoch
from bdlsweep.trainables.runtime.trial_loop import (
    IterativeFit,
    TrialStart,
    loop_state,
    restore_loop,
    run_fit,
    start_trial,
)
from bdlsweep.trainables.settings import MethodSettings, OptimizerSettings, SpeedSettings


class SWAGSettings(MethodSettings):
    """Hyper-parameters of SWAG; ``lr`` is the constant learning rate the papers tune.

    The papers run SWAG without data augmentation (``augment: false``). ``speed`` sets the training
    loop's precision, memory layout and compilation, as for MAP.
    """

    epochs: int = Field(20, gt=0)
    """Epochs of SGD at the constant rate, one moment snapshot per epoch."""
    rank: int = Field(20, gt=0)
    """Rank of SWAG's low-rank covariance (the number of deviations kept)."""
    lr: float = Field(0.01, gt=0)
    """The constant SWAG learning rate (the papers tune it)."""
    momentum: float = Field(0.9, ge=0, lt=1)
    """SGD momentum during SWAG."""
    weight_decay: float = Field(5.0e-4, ge=0)
    """L2 weight decay during SWAG."""
    batch_size: int = Field(128, gt=0)
    """Minibatch size."""
    val_samples: int = Field(30, gt=0)
    """SWAG samples per validation."""
    augment: bool = False
    """Apply the dataset's training augmentation (the papers run SWAG without)."""
    speed: SpeedSettings = SpeedSettings()
    """Precision, memory layout and compilation of the training loop (see its keys)."""


class SWAGFit(IterativeFit):
    """Constant-learning-rate SGD from the seed's MAP checkpoint, one snapshot per epoch; each epoch
    validates SWAG (``val_samples`` draws) and SWA (the mean) on the moments so far."""

    def __init__(self, start: TrialStart, context: TrialContext) -> None:
        settings: SWAGSettings = start.settings
        self.start, self.settings = start, settings
        self.data = context.load_data(start.device, train_on_device=settings.speed.train_data == "device")
        parent = FixedWeightsPosterior.load(context.parent(start.seed), start.device)
        self.model, self.recipe = parent.model, parent.recipe
        optimizer = OptimizerSettings(
            name="sgd", lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay
        )
        self.optimizer = build_optimizer(self.model.parameters(), optimizer)
        size = sum(p.numel() for p in self.model.parameters())
        self.moments = SWAGMoments(size, settings.rank, device=start.device)
        self.trained = for_training(self.model, settings.speed)
        self.steps = settings.epochs

    def step(self, index: int) -> tuple[dict[str, Any], SWAGPosterior]:
        settings, data, recipe = self.settings, self.data, self.recipe
        loss = train_epoch(
            self.trained,
            self.optimizer,
            data.train.inputs,
            data.train.labels,
            settings.batch_size,
            self.start.generator,
            recipe.output_model,
            data.augment if settings.augment else None,
            settings.speed,
        )
        self.moments.collect(weight_vector(self.model.parameters()))
        evaluation_model = recipe.build().to(self.start.device)
        evaluation_model.load_state_dict(self.model.state_dict())
        posterior = SWAGPosterior(evaluation_model, recipe, self.moments, data.train.inputs)
        sampler = torch.Generator(device=self.start.device).manual_seed(self.start.seed)
        swag_outputs = posterior.predict(data.val.inputs, settings.val_samples, sampler)
        swa_outputs = posterior.swa().predict(data.val.inputs, 1, sampler)
        metrics = {
            "train_loss": loss,
            **recipe.output_model.validation(swag_outputs, data.val.labels),
            **recipe.output_model.validation(swa_outputs, data.val.labels, prefix="swa_val"),
        }
        return metrics, posterior

    def state_dict(self) -> dict[str, Any]:
        return loop_state(self.model, self.optimizer, self.start.generator, moments=self.moments.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        restore_loop(state, self.model, self.optimizer, self.start.generator)
        self.moments = SWAGMoments.from_state_dict(state["moments"], self.start.device)


def train_swag(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune trainable: SWAG from the seed's MAP checkpoint; reports SWAG and SWA metrics."""
    start = start_trial(config, SWAGSettings)
    run_fit(SWAGFit(start, context), start, context)


METHOD = Method(
    name="swag",
    display_name="SWAG",
    ensemble_name="MultiSWAG",
    hint="lower the SWAG learning-rate grid",
    settings=SWAGSettings,
    steps=count_epoch_reports,
    trainable=train_swag,
    posterior=SWAGPosterior,
    checkpoint="last",
    parents=("map",),
    derived={"swa": DerivedSelection(SWAPosterior, "swa_val_elpd", "SWA", "MultiSWA")},
    tiny={"epochs": 3, "rank": 2, "batch_size": 256, "val_samples": 3},
    paper=(
        'Maddox, Garipov, Izmailov, Vetrov & Wilson (2019), "A Simple Baseline for Bayesian Uncertainty '
        'in Deep Learning", NeurIPS; MultiSWAG: Wilson & Izmailov (2020), "Bayesian Deep Learning and a '
        'Probabilistic Perspective of Generalization", NeurIPS'
    ),
)
