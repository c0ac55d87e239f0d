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

from bdlsweep.trainables.models.option_types import Padding, PositiveFloat, Size


def packed_width(features: int, alpha: float, groups: int) -> int:
    """``features · α`` rounded up to a multiple of ``groups``."""
    width = int(features * alpha)
    return math.ceil(width / groups) * groups


def packed_channels(
    in_features: int,
    out_features: int,
    alpha: float,
    num_estimators: int,
    gamma: int,
    first: bool,
    last: bool,
    widened: bool = False,
) -> tuple[int, int, int]:
    """(input width, output width, groups) of a packed layer: the first reads the raw input densely,
    later ones are split into M·γ groups, and the last gives each estimator ``out_features`` outputs.
    ``widened``: ``in_features`` is already the packed width (flattened packed feature maps)."""
    groups = 1 if first else num_estimators * gamma
    in_width = in_features if first or widened else packed_width(in_features, alpha, groups)
    out_groups = num_estimators * gamma
    out_width = out_features * num_estimators if last else packed_width(out_features, alpha, out_groups)
    return in_width, out_width, groups


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
        widened: bool = False,
    ) -> None:
        super().__init__()
        self.in_width, out_width, groups = packed_channels(
            in_features, out_features, alpha, num_estimators, gamma, first, last, widened
        )
        self.conv = nn.Conv1d(self.in_width, out_width, 1, groups=groups)

    @property
    def out_width(self) -> int:
        """Number of outputs (all estimators together)."""
        return self.conv.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x[..., None])[..., 0]


class PackedConv2d(nn.Conv2d):
    """A convolution of a Packed-Ensemble: channels widened by α and split into M·γ groups (dense on
    the raw image when ``first``), so each estimator's channels form one contiguous block."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        alpha: float,
        num_estimators: int,
        gamma: int = 1,
        first: bool = False,
        padding: int = 0,
    ) -> None:
        in_width, out_width, groups = packed_channels(
            in_channels, out_channels, alpha, num_estimators, gamma, first, last=False
        )
        super().__init__(in_width, out_width, kernel_size, padding=padding, groups=groups)


class PackedMLP(nn.Module):
    """An MLP Packed-Ensemble: PackedLinear–ReLU blocks, then a last PackedLinear ``head``."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        hidden: Sequence[Size] = (128, 128),
        alpha: PositiveFloat = 2.0,
        num_estimators: Size = 4,
        gamma: Size = 1,
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


class PackedLeNet5(nn.Module):
    """LeNet-5 (``lenet.LeNet5``'s layers and ``padding``) packed into M estimators, as TorchUncertainty's
    tutorial ``PackedLeNet``: flattening keeps each estimator's channels, and so its features, together."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        padding: Padding = 2,
        alpha: PositiveFloat = 2.0,
        num_estimators: Size = 4,
        gamma: Size = 1,
    ) -> None:
        super().__init__()
        self.num_estimators = num_estimators
        packing = {"alpha": alpha, "num_estimators": num_estimators, "gamma": gamma}
        convolutions = nn.Sequential(
            PackedConv2d(input_shape[0], 6, 5, first=True, padding=padding, **packing),
            nn.ReLU(),
            nn.MaxPool2d(2),
            PackedConv2d(6, 16, 5, **packing),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        with torch.no_grad():
            flat = convolutions(torch.zeros(1, *input_shape)).shape[1]
        self.backbone = nn.Sequential(
            convolutions,
            PackedLinear(flat, 120, widened=True, **packing),
            nn.ReLU(),
            PackedLinear(120, 84, **packing),
            nn.ReLU(),
        )
        self.head = PackedLinear(84, num_outputs, last=True, **packing)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The packed 84-wide features of all estimators, the inputs of ``head``."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
