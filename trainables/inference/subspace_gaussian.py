"""A full-covariance Gaussian q(z) = N(m, L Lᵀ) over subspace coordinates, fitted by the tempered ELBO.

The subspace has few dimensions (5–20), so q keeps a full Cholesky factor L (positive diagonal by
softplus). The loss is −E_q[log p(D | z)]/T + KL(q ‖ N(0, σ²I)), with T the likelihood temperature
of the subspace paper (e.g. 5000 for CIFAR with N = 50,000); T = 1 is the Bayes posterior.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import MultivariateNormal, kl_divergence

from bdlsweep.trainables.inference.mean_field import inverse_softplus


class SubspaceGaussian(nn.Module):
    """Variational parameters: mean m ``[R]`` and the unconstrained Cholesky factor of the covariance."""

    def __init__(self, rank: int, initial_std: float) -> None:
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(rank))
        self.off_diagonal = nn.Parameter(torch.zeros(rank, rank))
        self.raw_diagonal = nn.Parameter(inverse_softplus(torch.full((rank,), initial_std)))

    @property
    def scale_tril(self) -> torch.Tensor:
        """L: strictly lower part free, diagonal softplus-positive."""
        return torch.tril(self.off_diagonal, -1) + torch.diag(F.softplus(self.raw_diagonal))

    def distribution(self) -> MultivariateNormal:
        """q as a torch distribution."""
        return MultivariateNormal(self.mean, scale_tril=self.scale_tril)

    def kl_to_prior(self, prior_std: float) -> torch.Tensor:
        """KL(q ‖ N(0, prior_std² I))."""
        prior = MultivariateNormal(
            torch.zeros_like(self.mean), scale_tril=prior_std * torch.eye(len(self.mean)).to(self.mean)
        )
        return kl_divergence(self.distribution(), prior)


def negative_elbo(
    q: SubspaceGaussian,
    log_likelihood: Callable[[torch.Tensor], torch.Tensor],
    prior_std: float,
    temperature: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """−log p(D | z)/T + KL(q ‖ prior) at one reparameterised draw z ~ q (``log_likelihood`` may be a
    minibatch estimate of the full-data sum)."""
    noise = torch.randn(q.mean.shape, generator=generator, device=q.mean.device, dtype=q.mean.dtype)
    coordinates = q.mean + q.scale_tril @ noise
    return -log_likelihood(coordinates) / temperature + q.kl_to_prior(prior_std)
