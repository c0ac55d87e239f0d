"""LeNet-5 (LeCun et al., 1998): the classic first convolution padded by 2, or unpadded (``padding: 0``)
as in TorchUncertainty's MNIST tutorial (44,426 weights on 28×28 images)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from bdlsweep.trainables.models.option_types import Padding, Probability


class LeNet5(nn.Module):
    """conv5(6, pad ``padding``)–ReLU–pool–conv5(16)–ReLU–pool–fc120–ReLU–fc84–ReLU, then a ``head``."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        dropout: Probability = 0.0,
        padding: Padding = 2,
    ) -> None:
        super().__init__()
        convolutions = nn.Sequential(
            nn.Conv2d(input_shape[0], 6, 5, padding=padding),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        with torch.no_grad():
            flat = convolutions(torch.zeros(1, *input_shape)).shape[1]
        layers = [convolutions, nn.Linear(flat, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        self.backbone = nn.Sequential(*layers)
        self.head = nn.Linear(84, num_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 84 features of the last hidden layer, the inputs of ``head``."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
