"""A network's exact full-batch energy U(θ) = Σ_i −log p(y_i | x_i, θ) + |θ|²/(2σ²) and ∇U (HMC's target)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from bdlsweep.trainables.inference.likelihoods import Likelihood

CHUNK_SIZE = 1024


def full_batch_energy(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    likelihood: Likelihood,
    prior_variance: float,
    chunk_size: int = CHUNK_SIZE,
) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """U(θ) and ∇U at a flat weight vector, exact over all of ``inputs`` (summed over chunks of
    ``chunk_size`` examples: larger chunks launch fewer kernels, smaller ones hold less memory)."""
    parameters = list(model.parameters())

    def energy_and_gradient(position: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        vector_to_parameters(position, parameters)
        model.zero_grad(set_to_none=True)
        total = (position**2).sum().detach() / (2 * prior_variance)
        for start in range(0, len(labels), chunk_size):
            chunk = slice(start, start + chunk_size)
            loss = likelihood.loss(model(inputs[chunk]), labels[chunk]) * len(labels[chunk])
            loss.backward()
            total = total + loss.detach()
        gradient = parameters_to_vector([p.grad for p in parameters]) + position / prior_variance
        return total, gradient

    return energy_and_gradient
