"""A factorised Gaussian q(θ) = N(μ, diag σ²) over a network's flattened weights, and its tempered ELBO loss.

σ = softplus(ρ). Minimising ``negative_elbo`` = N · E_q[mean NLL] + T · KL(q ‖ N(0, σ_p² I)) (one
reparameterised sample per step, or flipout's per-example perturbations) fits q to the posterior
tempered by T (T = 1: the Bayes posterior).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from bdlsweep.trainables.inference.flipout import flipout_forward


def inverse_softplus(value: torch.Tensor) -> torch.Tensor:
    """ρ with softplus(ρ) = value (value > 0)."""
    return value + torch.log(-torch.expm1(-value))


class MeanField(nn.Module):
    """Variational parameters μ and ρ of a mean-field Gaussian over ``size`` weights."""

    def __init__(self, mean: torch.Tensor, initial_std: float) -> None:
        super().__init__()
        self.mean = nn.Parameter(mean.detach().clone())
        self.rho = nn.Parameter(inverse_softplus(torch.full_like(mean, initial_std)))

    @property
    def std(self) -> torch.Tensor:
        """σ = softplus(ρ)."""
        return F.softplus(self.rho)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One reparameterised draw μ + σ ⊙ ε (differentiable in μ and ρ)."""
        noise = torch.randn(
            self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype
        )
        return self.mean + self.std * noise

    def kl_to_prior(self, prior_variance: float) -> torch.Tensor:
        """KL(q ‖ N(0, prior_variance · I)) in closed form."""
        variance = self.std**2
        return (
            0.5
            * ((variance + self.mean**2) / prior_variance - 1.0 - torch.log(variance / prior_variance)).sum()
        )


def as_parameters(model: nn.Module, weights: torch.Tensor) -> dict[str, torch.Tensor]:
    """A flat weight vector split into ``model``'s named parameter shapes (for ``functional_call``)."""
    tensors, start = {}, 0
    for name, parameter in model.named_parameters():
        tensors[name] = weights[start : start + parameter.numel()].view_as(parameter)
        start += parameter.numel()
    return tensors


def negative_elbo(
    model: nn.Module,
    q: MeanField,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    loss_fn,
    data_size: int,
    temperature: float,
    prior_variance: float,
    generator: torch.Generator | None = None,
    flipout: bool = False,
) -> torch.Tensor:
    """N · minibatch mean NLL at a draw from q (shared, or per example by flipout) plus T · KL(q ‖ prior)."""
    if flipout:
        mean, std = as_parameters(model, q.mean), as_parameters(model, q.std)
        outputs = flipout_forward(model, mean, std, inputs, generator)
    else:
        outputs = functional_call(model, as_parameters(model, q.sample(generator)), (inputs,))
    return data_size * loss_fn(outputs, labels) + temperature * q.kl_to_prior(prior_variance)
