"""Normalisation + activation blocks: filter response norm with TLU (no batch statistics) or batch norm."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

NormKind = Literal["frn", "batch"]


class FilterResponseNorm2d(nn.Module):
    """Filter response normalisation followed by a thresholded linear unit (Singh & Krishnan, 2020).

    ``x / sqrt(mean_hw(x²) + eps)``, then ``max(γ·x + β, τ)`` per channel; it depends on no batch
    statistics, so sampled weights need no batch-norm update.
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.tau = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nu2 = x.pow(2).mean(dim=(2, 3), keepdim=True)
        x = x * torch.rsqrt(nu2 + self.eps)
        return torch.maximum(self.weight * x + self.bias, self.tau)


def norm_layer(kind: NormKind, channels: int) -> nn.Module:
    """FRN+TLU (``frn``) or ``BatchNorm2d`` (``batch``) over ``channels``."""
    return FilterResponseNorm2d(channels) if kind == "frn" else nn.BatchNorm2d(channels)


def norm_activation(kind: NormKind, channels: int) -> nn.Sequential:
    """The pre-activation unit: FRN+TLU (the TLU is the activation), or batch norm + ReLU."""
    if kind == "frn":
        return nn.Sequential(FilterResponseNorm2d(channels))
    return nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
