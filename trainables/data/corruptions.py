"""Input corruptions at severities 1–5, computed in code so shift evaluation works offline."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchvision.transforms.functional import rotate

NOISE_STD = (0.08, 0.12, 0.18, 0.26, 0.38)
ROTATION_DEGREES = (10.0, 20.0, 30.0, 45.0, 60.0)


def gaussian_noise(images: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Add zero-mean Gaussian noise with a severity-dependent std to images in [0, 1], then clip."""
    noise = torch.randn(images.shape, generator=generator) * NOISE_STD[severity - 1]
    return (images + noise).clamp(0.0, 1.0)


def rotation(images: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Rotate every image by a severity-dependent angle, alternating the direction per image."""
    angle = ROTATION_DEGREES[severity - 1]
    signs = torch.where(torch.rand(len(images), generator=generator) < 0.5, -1.0, 1.0)
    return torch.stack(
        [rotate(image, float(sign) * angle) for image, sign in zip(images, signs, strict=True)]
    )


CORRUPTIONS: dict[str, Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]] = {
    "gaussian_noise": gaussian_noise,
    "rotation": rotation,
}


def corrupt(images: torch.Tensor, name: str, severity: int, seed: int) -> torch.Tensor:
    """Apply corruption ``name`` at ``severity`` (1–5) with a fixed random seed."""
    if not 1 <= severity <= 5:
        raise ValueError(f"severity must be in 1..5, got {severity}")
    return CORRUPTIONS[name](images, severity, torch.Generator().manual_seed(seed))
