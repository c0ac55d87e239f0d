"""Packed-Ensembles (Laurent et al., 2023): M estimators in one network through grouped layers.

Widths are multiplied by α; every layer after the first is split into M·γ groups, so the M
estimators never mix. ``PackedLinear`` is a grouped 1×1 convolution, as in TorchUncertainty. The
network's output ``[N, M · K]`` holds the M estimators' outputs side by side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def packed_width(features: int, alpha: float, groups: int) -> int:
    """``features · α`` rounded up to a multiple of ``groups``."""
    width = int(features * alpha)
    return math.ceil(width / groups) * groups


class PackedLinear(nn.Module):
    """A linear layer of a Packed-Ensemble; ``first`` takes the raw input, ``last`` gives M·out outputs."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        alpha: float,
        num_estimators: int,
        gamma: int = 1,
        first: bool = False,
        last: bool = False,
    ) -> None:
        super().__init__()
        groups = 1 if first else num_estimators * gamma
        self.in_width = in_features if first else packed_width(in_features, alpha, groups)
        out_groups = num_estimators * gamma
        out_width = out_features * num_estimators if last else packed_width(out_features, alpha, out_groups)
        self.conv = nn.Conv1d(self.in_width, out_width, 1, groups=groups)

    @property
    def out_width(self) -> int:
        """Number of outputs (all estimators together)."""
        return self.conv.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x[..., None])[..., 0]


class PackedMLP(nn.Module):
    """An MLP Packed-Ensemble: PackedLinear–ReLU blocks, then a last PackedLinear ``head``."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        hidden: Sequence[int] = (128, 128),
        alpha: float = 2.0,
        num_estimators: int = 4,
        gamma: int = 1,
    ) -> None:
        super().__init__()
        self.num_estimators = num_estimators
        layers: list[nn.Module] = [nn.Flatten()]
        width, first = math.prod(input_shape), True
        for size in hidden:
            layer = PackedLinear(width, size, alpha, num_estimators, gamma, first=first)
            layers += [layer, nn.ReLU()]
            width, first = size, False
        self.backbone = nn.Sequential(*layers)
        self.head = PackedLinear(width, num_outputs, alpha, num_estimators, gamma, first=first, last=True)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The packed hidden features of all estimators, the inputs of ``head``."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
