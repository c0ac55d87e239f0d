"""SWAG's Gaussian over all weights, from SGD snapshots (Maddox et al. 2019, "A Simple Baseline for Bayesian
Uncertainty in Deep Learning"): SWAG and SWA posteriors, and the moments subspace inference starts from.

Moments: mean of the snapshots, diagonal variance max(E[θ²] − mean², 1e-8), deviation matrix D of the last
``rank`` snapshots around the mean; a sample is θ = mean + √diag·z₁/√2 + D·z₂/√(2(K−1)). SWA is the mean.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import torch
from torch import nn

from bdlsweep.trainables.inference.network_weights import load_weight_vector
from bdlsweep.trainables.posteriors.base import ModelRecipe
from bdlsweep.trainables.posteriors.single_network import FixedWeightsPosterior
from bdlsweep.trainables.posteriors.weight_distribution import WeightSamplingPosterior, load_sampling_network

VARIANCE_FLOOR = 1e-8


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
    """The SWAG mean as a single network; loads from a SWAG checkpoint (its mean) or from its own."""

    method: ClassVar[str] = "swa"

    @classmethod
    def from_state(
        cls,
        metadata: dict[str, Any],
        state: dict[str, Any],
        device: torch.device,
        train_inputs: torch.Tensor | None,
    ) -> SWAPosterior:
        if "moments" in state:
            return SWAGPosterior.from_state(metadata, state, device, train_inputs).swa()
        return super().from_state(metadata, state, device, train_inputs)
