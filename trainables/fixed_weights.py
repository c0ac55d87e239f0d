"""A posterior that is one set of weights (MAP, SWA): a single deterministic predictive."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from bdlsweep.trainables.posterior import ModelRecipe, Posterior
from bdlsweep.trainables.training import predictive_outputs


class FixedWeightsPosterior(Posterior):
    """One network; ``predict`` returns its log-probabilities as a single sample ``[1, N, C]``."""

    deterministic = True

    def __init__(self, model: nn.Module, recipe: ModelRecipe) -> None:
        self.model = model
        self.recipe = recipe

    def predict(self, inputs: torch.Tensor, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        return predictive_outputs(self.model, inputs, self.recipe.output_model)[None]

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"model": self.recipe.to_dict()}, {"model_state": self.model.state_dict()}

    @classmethod
    def from_state(
        cls,
        metadata: dict[str, Any],
        state: dict[str, Any],
        device: torch.device,
        train_inputs: torch.Tensor | None,
    ) -> FixedWeightsPosterior:
        recipe = ModelRecipe.from_dict(metadata["model"])
        model = recipe.build().to(device)
        model.load_state_dict(state["model_state"])
        return cls(model, recipe)
