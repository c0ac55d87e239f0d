"""A posterior held as stored weight samples of one network (SGMCMC, HMC), replayed by ``predict``."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from bdlsweep.trainables.posterior import ModelRecipe, Posterior, load_network
from bdlsweep.trainables.training import load_weight_vector, predictive_outputs


def replay_order(count: int, num_samples: int, generator: torch.Generator) -> torch.Tensor:
    """Which of ``count`` stored samples give ``num_samples`` draws: random permutations, concatenated."""
    rounds = math.ceil(num_samples / count)
    device = generator.device
    return torch.cat([torch.randperm(count, generator=generator, device=device) for _ in range(rounds)])[
        :num_samples
    ]


class SampledWeightsPosterior(Posterior):
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
        self.model = model
        self.recipe = recipe
        self.samples = samples
        self.train_inputs = train_inputs

    def predict(self, inputs: torch.Tensor, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        """``num_samples`` stored samples: a random permutation of all, repeated when more are asked."""
        order = replay_order(len(self.samples), num_samples, generator)
        outputs = []
        dtype = next(self.model.parameters()).dtype
        for index in order.tolist():
            load_weight_vector(self.model, self.samples[index].to(dtype), self.train_inputs)
            outputs.append(predictive_outputs(self.model, inputs, self.recipe.output_model))
        return torch.stack(outputs)

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
        model, recipe = load_network(metadata, state, device)
        inputs = None if train_inputs is None else train_inputs.to(device)
        return cls(model, recipe, state["samples"].to(device), inputs)
