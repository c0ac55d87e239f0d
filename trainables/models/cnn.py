"""Small convolutional network for 8×8 to 32×32 images, with optional batch norm."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from bdlsweep.trainables.models.option_types import Probability, Size


class SmallCNN(nn.Module):
    """Conv–(BN)–ReLU–pool blocks, global average pool, then a linear ``head``."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        channels: Sequence[Size] = (16, 32),
        batch_norm: bool = True,
        dropout: Probability = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = input_shape[0]
        for size in channels:
            layers.append(nn.Conv2d(width, size, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(size))
            layers += [nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True)]
            width = size
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        self.backbone = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled convolutional features, the inputs of ``head``."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
