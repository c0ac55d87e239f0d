"""SWA and SWAG: constant-learning-rate SGD from a MAP checkpoint, one weight snapshot per epoch.

Moments follow the seed paper: mean of the snapshots, diagonal variance max(E[θ²] − mean², 1e-8),
deviation matrix D of the last ``rank`` snapshots around the mean; a sample is
θ = mean + √diag·z₁/√2 + D·z₂/√(2(K−1)). SWA is the mean alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import torch
from pydantic import Field
from torch import nn

from bdlsweep.trainables.method import DerivedSelection, Method, epoch_steps
from bdlsweep.trainables.methods.map import MAPPosterior
from bdlsweep.trainables.posteriors.base import ModelRecipe
from bdlsweep.trainables.posteriors.single_network import FixedWeightsPosterior
from bdlsweep.trainables.posteriors.weight_distribution import WeightSamplingPosterior, load_sampling_network
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.training import (
    build_optimizer,
    for_training,
    load_weight_vector,
    train_epoch,
    weight_vector,
)
from bdlsweep.trainables.runtime.trial_loop import (
    IterativeFit,
    TrialStart,
    loop_state,
    restore_loop,
    run_fit,
    start_trial,
)
from bdlsweep.trainables.settings import MethodSettings, OptimizerSettings, SpeedSettings

VARIANCE_FLOOR = 1e-8


class SWAGSettings(MethodSettings):
    """Hyper-parameters of SWAG; ``lr`` is the constant learning rate the papers tune.

    The papers run SWAG without data augmentation (``augment: false``). ``speed`` sets the training
    loop's precision, memory layout and compilation, as for MAP.
    """

    epochs: int = Field(20, gt=0)
    rank: int = Field(20, gt=0)
    lr: float = Field(0.01, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5.0e-4, ge=0)
    batch_size: int = Field(128, gt=0)
    val_samples: int = Field(30, gt=0)
    augment: bool = False
    speed: SpeedSettings = SpeedSettings()


class SWAGMoments:
    """Running first and second moments of flattened weights, and the last ``rank`` snapshots."""

    def __init__(self, num_params: int, rank: int, dtype=torch.float32, device=None) -> None:
        self.rank = rank
        self.count = 0
        self.mean = torch.zeros(num_params, dtype=dtype, device=device)
        self.sq_mean = torch.zeros(num_params, dtype=dtype, device=device)
        self.snapshots = torch.zeros(0, num_params, dtype=dtype, device=device)

    def collect(self, weights: torch.Tensor) -> None:
        """Add one snapshot of the flattened weights."""
        weights = weights.detach().to(self.mean)
        self.count += 1
        self.mean += (weights - self.mean) / self.count
        self.sq_mean += (weights**2 - self.sq_mean) / self.count
        self.snapshots = torch.cat([self.snapshots, weights[None]])[-self.rank :]

    @property
    def variance(self) -> torch.Tensor:
        """Diagonal variance, floored at 1e-8."""
        return torch.clamp(self.sq_mean - self.mean**2, min=VARIANCE_FLOOR)

    @property
    def deviations(self) -> torch.Tensor:
        """Deviation matrix D ``[P, K]``: kept snapshots minus the mean, one column each."""
        return (self.snapshots - self.mean).T

    def covariance(self) -> torch.Tensor:
        """The SWAG covariance ½·diag + ½·D Dᵀ/(K − 1) as a dense matrix (for tests, small P)."""
        low_rank = self.deviations
        kept = low_rank.shape[1]
        dense = torch.diag(self.variance) / 2
        if kept > 1:
            dense = dense + low_rank @ low_rank.T / (2 * (kept - 1))
        return dense

    def sample(self, generator: torch.Generator) -> torch.Tensor:
        """One weight vector θ = mean + √diag·z₁/√2 + D·z₂/√(2(K − 1))."""
        z1 = torch.randn(self.mean.shape, generator=generator, device=generator.device)
        z1 = z1.to(self.mean)
        sample = self.mean + self.variance.sqrt() * z1 / 2**0.5
        kept = self.snapshots.shape[0]
        if kept > 1:
            z2 = torch.randn(kept, generator=generator, device=generator.device).to(self.mean)
            sample = sample + self.deviations @ z2 / (2 * (kept - 1)) ** 0.5
        return sample

    def state_dict(self) -> dict[str, Any]:
        """Tensors and counters to save."""
        return {
            "count": self.count,
            "rank": self.rank,
            "mean": self.mean,
            "sq_mean": self.sq_mean,
            "snapshots": self.snapshots,
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], device: torch.device | None = None) -> SWAGMoments:
        """Inverse of ``state_dict``, with the tensors moved to ``device`` when given."""
        device = device or state["mean"].device
        moments = cls(len(state["mean"]), int(state["rank"]), state["mean"].dtype, device)
        moments.count = int(state["count"])
        moments.mean = state["mean"].to(device)
        moments.sq_mean = state["sq_mean"].to(device)
        moments.snapshots = state["snapshots"].to(device)
        return moments


class SWAGPosterior(WeightSamplingPosterior):
    """Gaussian posterior over all weights with diagonal plus low-rank covariance."""

    method: ClassVar[str] = "swag"

    def __init__(
        self,
        model: nn.Module,
        recipe: ModelRecipe,
        moments: SWAGMoments,
        train_inputs: torch.Tensor | None = None,
    ) -> None:
        super().__init__(model, recipe, train_inputs)
        self.moments = moments

    def weight_samples(self, num_samples: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        for _ in range(num_samples):
            yield self.moments.sample(generator)

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return (
            {"model": self.recipe.to_dict(), "snapshots": self.moments.count},
            {"model_state": self.model.state_dict(), "moments": self.moments.state_dict()},
        )

    @classmethod
    def from_state(
        cls,
        metadata: dict[str, Any],
        state: dict[str, Any],
        device: torch.device,
        train_inputs: torch.Tensor | None,
    ) -> SWAGPosterior:
        model, recipe, inputs = load_sampling_network(metadata, state, device, train_inputs)
        return cls(model, recipe, SWAGMoments.from_state_dict(state["moments"]), inputs)

    def swa(self) -> SWAPosterior:
        """The SWA solution: the mean weights (batch norm updated for them)."""
        load_weight_vector(self.model, self.moments.mean, self.train_inputs)
        return SWAPosterior(self.model, self.recipe)


class SWAPosterior(FixedWeightsPosterior):
    """The SWAG mean as a single network; loads from a SWAG checkpoint."""

    method: ClassVar[str] = "swa"

    @classmethod
    def from_state(
        cls,
        metadata: dict[str, Any],
        state: dict[str, Any],
        device: torch.device,
        train_inputs: torch.Tensor | None,
    ) -> SWAPosterior:
        return SWAGPosterior.from_state(metadata, state, device, train_inputs).swa()


class SWAGFit(IterativeFit):
    """Constant-learning-rate SGD from the seed's MAP checkpoint, one snapshot per epoch; each epoch
    validates SWAG (``val_samples`` draws) and SWA (the mean) on the moments so far."""

    def __init__(self, start: TrialStart, context: TrialContext) -> None:
        settings: SWAGSettings = start.settings
        self.start, self.settings = start, settings
        self.data = context.load_data(start.device, train_on_device=settings.speed.train_data == "device")
        parent = MAPPosterior.load(context.parent(start.seed), start.device)
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
    settings=SWAGSettings,
    steps=epoch_steps,
    trainable=train_swag,
    posterior=SWAGPosterior,
    checkpoint="last",
    parents=("map",),
    derived={"swa": DerivedSelection(posterior=SWAPosterior, metric="swa_val_elpd")},
    tiny={"epochs": 3, "rank": 2, "batch_size": 256, "val_samples": 3},
)
