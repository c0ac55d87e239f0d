"""ResNet-d (He et al., 2016, post-activation), as bnn_hmc's ResNet-20-FRN: FRN+TLU then swish."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from bdlsweep.trainables.models.normalization import NormKind, norm_layer
from bdlsweep.trainables.models.option_types import Size

ACTIVATIONS = {"swish": nn.SiLU, "relu": nn.ReLU}


class BasicBlock(nn.Module):
    """conv-norm-act → conv-norm, added to the (projected) input, then the activation."""

    def __init__(
        self, inputs: int, outputs: int, stride: int, norm: NormKind, activation: Literal["swish", "relu"]
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False),
            norm_layer(norm, outputs),
            ACTIVATIONS[activation](),
            nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False),
            norm_layer(norm, outputs),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or inputs != outputs:
            self.shortcut = nn.Sequential(
                nn.Conv2d(inputs, outputs, 1, stride, bias=False), norm_layer(norm, outputs)
            )
        self.activation = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet-depth for 32×32 images: (depth − 2)/6 basic blocks per stage, widths 16, 32, 64, global pool."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        depth: Size = 20,
        norm: NormKind = "frn",
        activation: Literal["swish", "relu"] = "swish",
    ) -> None:
        super().__init__()
        if (depth - 2) % 6 or depth < 8:
            raise ValueError(f"ResNet depth must be 6n + 2 with n ≥ 1 (got {depth})")
        layers: list[nn.Module] = [
            nn.Conv2d(input_shape[0], 16, 3, 1, 1, bias=False),
            norm_layer(norm, 16),
            ACTIVATIONS[activation](),
        ]
        channels = 16
        for stage, width in enumerate((16, 32, 64)):
            for block in range((depth - 2) // 6):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(channels, width, stride, norm, activation))
                channels = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.backbone = nn.Sequential(*layers)
        self.head = nn.Linear(channels, num_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally pooled features of the last stage, the inputs of ``head``."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
