"""Normalizing flows on nflows for LA-NF: radial and planar layers, a fixed Gaussian base map, builders.

nflows' ``Transform.forward`` maps data to noise and ``inverse`` maps noise to data (the sampling
direction). Radial and planar flows are defined in the sampling direction, so here ``inverse`` is
the flow layer f(z) with log|det ∂f/∂z|; radial layers also invert in closed form, planar ones do
not (``forward`` raises ``InverseNotAvailable``), which variational inference never needs.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from nflows.transforms import (
    CompositeTransform,
    InverseTransform,
    MaskedAffineAutoregressiveTransform,
    MaskedPiecewiseRationalQuadraticAutoregressiveTransform,
    Transform,
)
from nflows.transforms.base import InverseNotAvailable
from torch import nn
from torch.nn import functional as F

FlowKind = Literal["radial", "planar", "maf", "rq_spline"]


class GaussianBaseMap(Transform):
    """The fixed affine map z ↦ μ + L z that turns N(0, I) noise into the Laplace Gaussian.

    ``scale`` is a lower-triangular factor L of the covariance (``[D, D]``) or a standard-deviation
    vector (``[D]``) for a diagonal Gaussian. Not trained.
    """

    def __init__(self, mean: torch.Tensor, scale: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.clone())
        self.register_buffer("scale", scale.clone())

    def _log_det(self) -> torch.Tensor:
        diagonal = self.scale if self.scale.dim() == 1 else torch.diagonal(self.scale)
        return diagonal.abs().log().sum()

    def inverse(self, inputs, context=None):
        if self.scale.dim() == 1:
            outputs = self.mean + inputs * self.scale
        else:
            outputs = self.mean + inputs @ self.scale.T
        return outputs, self._log_det().expand(len(inputs))

    def forward(self, inputs, context=None):
        centred = inputs - self.mean
        if self.scale.dim() == 1:
            outputs = centred / self.scale
        else:
            outputs = torch.linalg.solve_triangular(self.scale, centred.T, upper=False).T
        return outputs, -self._log_det().expand(len(inputs))


class RadialTransform(Transform):
    """Radial flow layer f(z) = z + β (z − z₀)/(α + |z − z₀|), α > 0, β ≥ −α (Rezende & Mohamed)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.centre = nn.Parameter(torch.randn(features) * 0.01)
        self.raw_alpha = nn.Parameter(torch.zeros(()))
        self.raw_beta = nn.Parameter(torch.zeros(()))
        self.features = features

    def _alpha_beta(self) -> tuple[torch.Tensor, torch.Tensor]:
        alpha = F.softplus(self.raw_alpha)
        return alpha, -alpha + F.softplus(self.raw_beta)

    def _log_det(self, radius: torch.Tensor) -> torch.Tensor:
        alpha, beta = self._alpha_beta()
        h = 1.0 / (alpha + radius)
        return (self.features - 1) * torch.log1p(beta * h) + torch.log1p(beta * h - beta * h**2 * radius)

    def inverse(self, inputs, context=None):
        alpha, beta = self._alpha_beta()
        offset = inputs - self.centre
        radius = offset.norm(dim=-1)
        outputs = inputs + beta * offset / (alpha + radius)[:, None]
        return outputs, self._log_det(radius)

    def forward(self, inputs, context=None):
        alpha, beta = self._alpha_beta()
        offset = inputs - self.centre
        out_radius = offset.norm(dim=-1)
        b = alpha + beta - out_radius
        radius = (-b + torch.sqrt(b**2 + 4 * alpha * out_radius)) / 2
        outputs = self.centre + offset / (1 + beta / (alpha + radius))[:, None]
        return outputs, -self._log_det(radius)


class PlanarTransform(Transform):
    """Planar flow layer f(z) = z + û tanh(wᵀz + b), with û constrained so that f is invertible."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.u = nn.Parameter(torch.randn(features) * 0.01)
        self.w = nn.Parameter(torch.randn(features) * 0.01)
        self.b = nn.Parameter(torch.zeros(()))

    def _u_hat(self) -> torch.Tensor:
        wu = self.w @ self.u
        return self.u + (-1 + F.softplus(wu) - wu) * self.w / (self.w @ self.w + 1e-12)

    def inverse(self, inputs, context=None):
        u = self._u_hat()
        activation = torch.tanh(inputs @ self.w + self.b)
        outputs = inputs + activation[:, None] * u
        psi = (1 - activation**2)[:, None] * self.w
        return outputs, torch.log(torch.abs(1 + psi @ u) + 1e-12)

    def forward(self, inputs, context=None):
        raise InverseNotAvailable("planar flows have no closed-form inverse")


def _layer(kind: FlowKind, features: int, hidden_features: int) -> Transform:
    if kind == "radial":
        return RadialTransform(features)
    if kind == "planar":
        return PlanarTransform(features)
    if kind == "maf":
        made = MaskedAffineAutoregressiveTransform(features, hidden_features)
    else:
        made = MaskedPiecewiseRationalQuadraticAutoregressiveTransform(
            features, hidden_features, num_bins=8, tails="linear", tail_bound=4.0
        )
    # Inverse autoregressive direction: sampling (what VI needs) takes one pass, not D.
    return InverseTransform(made)


class GaussianFlow(nn.Module):
    """A flow whose base distribution is a Gaussian N(μ, LLᵀ): z ~ N(0, I) → μ + L z → layers.

    ``transform`` is the nflows data→noise composite (layers, last applied first, then the base
    map), so ``transform.inverse`` is the sampling direction.
    """

    def __init__(self, kind: FlowKind, num_layers: int, base: GaussianBaseMap, hidden_features: int = 32):
        super().__init__()
        self.base = base
        features = len(base.mean)
        layers = [_layer(kind, features, hidden_features) for _ in range(num_layers)]
        self.transform = CompositeTransform([*reversed(layers), base])

    @property
    def features(self) -> int:
        """Dimension of the flow's samples."""
        return len(self.base.mean)

    def sample(
        self, num_samples: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples ``[S, D]`` and their log-density under the flow; noise drawn from ``generator``."""
        device = self.base.mean.device
        noise = torch.randn(
            num_samples, self.features, generator=generator, device=device, dtype=self.base.mean.dtype
        )
        samples, log_det = self.transform.inverse(noise)
        noise_log_prob = -0.5 * (noise**2).sum(-1) - 0.5 * self.features * math.log(2 * math.pi)
        return samples, noise_log_prob - log_det

    def log_prob(self, samples: torch.Tensor) -> torch.Tensor:
        """Log-density of given samples (needs invertible layers: radial, MAF, RQ-spline)."""
        noise, log_det = self.transform(samples)
        return -0.5 * (noise**2).sum(-1) - 0.5 * self.features * math.log(2 * math.pi) + log_det
