"""A posterior held as stored weight samples of one network (SGMCMC, HMC), replayed by ``predict``."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from bdlsweep.trainables.posteriors.base import ModelRecipe
from bdlsweep.trainables.posteriors.weight_distribution import WeightSamplingPosterior, load_sampling_network


def replay_order(count: int, num_samples: int, generator: torch.Generator) -> torch.Tensor:
    """Which of ``count`` stored samples give ``num_samples`` draws: random permutations, concatenated."""
    rounds = math.ceil(num_samples / count)
    device = generator.device
    return torch.cat([torch.randperm(count, generator=generator, device=device) for _ in range(rounds)])[
        :num_samples
    ]


class SampledWeightsPosterior(WeightSamplingPosterior):
    """Stored weight samples ``[K, P]`` of one network; ``predict`` replays them in a random order."""

    def __init__(
        self,
        model: nn.Module,
        recipe: ModelRecipe,
        samples: torch.Tensor,
        train_inputs: torch.Tensor | None = None,
    ) -> None:
        if len(samples) == 0:
            raise ValueError(f"a {self.method} posterior needs at least one kept sample")
        super().__init__(model, recipe, train_inputs)
        self.samples = samples

    def weight_samples(self, num_samples: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        """The stored samples in a random permutation, repeated when more are asked."""
        for index in replay_order(len(self.samples), num_samples, generator).tolist():
            yield self.samples[index]

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return (
            {"model": self.recipe.to_dict(), "kept_samples": len(self.samples)},
            {"model_state": self.model.state_dict(), "samples": self.samples},
        )

    @classmethod
    def from_state(
        cls,
        metadata: dict[str, Any],
        state: dict[str, Any],
        device: torch.device,
        train_inputs: torch.Tensor | None,
    ) -> SampledWeightsPosterior:
        model, recipe, inputs = load_sampling_network(metadata, state, device, train_inputs)
        return cls(model, recipe, state["samples"].to(device), inputs)
