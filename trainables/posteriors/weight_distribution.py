"""Posteriors that predict by loading sampled weight vectors into one network (SWAG, VI, SGMCMC, subspace)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from bdlsweep.trainables.inference.network_weights import (
    has_batch_norm,
    load_weight_vector,
    predictive_outputs,
)
from bdlsweep.trainables.models.registry import model_inputs
from bdlsweep.trainables.posteriors.base import ModelRecipe, Posterior, load_network
from bdlsweep.trainables.posteriors.vmap_predictive import batched_predictive


class WeightSamplingPosterior(Posterior):
    """A distribution over one network's flattened weights; each prediction sample is one weight draw.

    ``train_inputs`` serve the batch-norm update after each draw where the network has batch norm.
    """

    def __init__(
        self, model: nn.Module, recipe: ModelRecipe, train_inputs: torch.Tensor | None = None
    ) -> None:
        self.model = model
        self.recipe = recipe
        self.train_inputs = train_inputs

    @abstractmethod
    def weight_samples(self, num_samples: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        """``num_samples`` flat weight vectors, drawn lazily with ``generator`` (one in memory at a time)."""

    def batched(self, inputs) -> bool:
        """Whether samples can share forward passes: tensor inputs and no batch norm to re-estimate."""
        return (
            isinstance(inputs, torch.Tensor)
            and model_inputs(self.recipe.name) == "tensor"
            and not has_batch_norm(self.model)
        )

    def predict(self, inputs: torch.Tensor, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        dtype = next(self.model.parameters()).dtype
        draws = (weights.to(dtype) for weights in self.weight_samples(num_samples, generator))
        if self.batched(inputs):
            return batched_predictive(self.model, draws, inputs, self.recipe.output_model)
        outputs = []
        for weights in draws:
            load_weight_vector(self.model, weights, self.train_inputs)
            outputs.append(predictive_outputs(self.model, inputs, self.recipe.output_model))
        return torch.stack(outputs)


def load_sampling_network(
    metadata: dict[str, Any], state: dict[str, Any], device: torch.device, train_inputs: torch.Tensor | None
) -> tuple[nn.Module, ModelRecipe, torch.Tensor | None]:
    """The checkpoint's network on ``device``, and the batch-norm inputs moved there too."""
    model, recipe = load_network(metadata, state, device)
    return model, recipe, None if train_inputs is None else train_inputs.to(device)
