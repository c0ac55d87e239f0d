"""Fully connected network with optional dropout, for flat or image inputs."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from bdlsweep.trainables.models.option_types import Probability, Size


class MLP(nn.Module):
    """ReLU MLP; ``features`` is everything before the final linear ``head``."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        hidden: Sequence[Size] = (128, 128),
        dropout: Probability = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        self.backbone = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features, the inputs of ``head``."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
