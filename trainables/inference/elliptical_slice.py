"""Elliptical slice sampling (Murray, Adams & MacKay 2010) for a N(0, σ²I) prior times a likelihood.

One step draws ν from the prior and a slice height log u + log L(f), then shrinks an angle bracket
until f cos θ + ν sin θ is above the slice; it has no step size and always moves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SliceStep:
    """The new position, its log-likelihood, and how many likelihood evaluations the step took."""

    position: torch.Tensor
    log_likelihood: float
    evaluations: int


def _uniform(low: float, high: float, generator: torch.Generator) -> float:
    """One draw from U(low, high) with ``generator``."""
    return low + (high - low) * float(torch.rand((), generator=generator, device=generator.device))


def elliptical_slice_step(
    position: torch.Tensor,
    log_likelihood: float,
    log_likelihood_fn: Callable[[torch.Tensor], float],
    prior_std: float,
    generator: torch.Generator,
) -> SliceStep:
    """One ESS transition from ``position`` (whose log-likelihood is ``log_likelihood``)."""
    direction = prior_std * torch.randn(
        position.shape, generator=generator, device=generator.device, dtype=position.dtype
    )
    threshold = log_likelihood + math.log(_uniform(0.0, 1.0, generator))
    angle = _uniform(0.0, 2 * math.pi, generator)
    low, high = angle - 2 * math.pi, angle
    evaluations = 0
    while True:
        proposal = position * math.cos(angle) + direction * math.sin(angle)
        value = log_likelihood_fn(proposal)
        evaluations += 1
        if value > threshold:
            return SliceStep(proposal, value, evaluations)
        if angle < 0:
            low = angle
        else:
            high = angle
        angle = _uniform(low, high, generator)
