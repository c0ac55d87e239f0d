"""Pre-activation ResNets: WRN-d-k (the CIFAR model of Jordahn et al. 2025, FRN +
TLU) and PreResNet-d (batch norm)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from bdlsweep.trainables.models.normalization import NormKind, norm_activation
from bdlsweep.trainables.models.option_types import Probability, Size


class PreActBlock(nn.Module):
    """norm-act → conv3×3 (stride) → norm-act → dropout → conv3×3; 1×1 conv shortcut on a shape change."""

    def __init__(self, inputs: int, outputs: int, stride: int, norm: NormKind, dropout: float) -> None:
        super().__init__()
        self.unit1 = norm_activation(norm, inputs)
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.unit2 = norm_activation(norm, outputs)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.shortcut = None
        if stride != 1 or inputs != outputs:
            self.shortcut = nn.Conv2d(inputs, outputs, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = self.unit1(x)
        residual = x if self.shortcut is None else self.shortcut(activated)
        out = self.conv2(self.dropout(self.unit2(self.conv1(activated))))
        return out + residual


class PreActResNet(nn.Module):
    """Stem conv, three stages of pre-activation blocks (strides 1, 2, 2), norm-act, global pool, ``head``."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        blocks_per_stage: int,
        widths: tuple[int, int, int],
        norm: NormKind,
        dropout: float,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(input_shape[0], 16, 3, 1, 1, bias=False)]
        channels = 16
        for stage, width in enumerate(widths):
            for block in range(blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(PreActBlock(channels, width, stride, norm, dropout))
                channels = width
        layers += [norm_activation(norm, channels), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.backbone = nn.Sequential(*layers)
        self.head = nn.Linear(channels, num_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally pooled features of the last stage, the inputs of ``head``."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class WideResNet(PreActResNet):
    """WRN-depth-widen_factor (Zagoruyko & Komodakis): (depth − 4)/6 blocks per stage, widths 16k, 32k, 64k.

    Jordahn et al. (2025)'s variant: filter response norm + TLU instead of batch norm, no conv biases,
    dropout 0; for 32×32 inputs the global pool is the 8×8 average pool.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        depth: Size = 16,
        widen_factor: Size = 4,
        dropout: Probability = 0.0,
        norm: NormKind = "frn",
    ) -> None:
        if (depth - 4) % 6 or depth < 10:
            raise ValueError(f"WRN depth must be 6n + 4 with n ≥ 1 (got {depth})")
        widths = (16 * widen_factor, 32 * widen_factor, 64 * widen_factor)
        super().__init__(input_shape, num_outputs, (depth - 4) // 6, widths, norm, dropout)


class PreResNet(PreActResNet):
    """PreResNet-depth (He et al., 2016) with batch norm: (depth − 2)/6 blocks per stage, widths 16, 32, 64.

    PreResNet-20 is the CIFAR model of the MultiSWAG and subspace-inference papers (which also use
    PreResNet-164 with bottlenecks; this class has basic blocks only).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        depth: Size = 20,
        norm: NormKind = "batch",
        dropout: Probability = 0.0,
    ) -> None:
        if (depth - 2) % 6 or depth < 8:
            raise ValueError(f"PreResNet depth must be 6n + 2 with n ≥ 1 (got {depth})")
        super().__init__(input_shape, num_outputs, (depth - 2) // 6, (16, 32, 64), norm, dropout)
