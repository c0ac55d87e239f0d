"""Image corruptions at severities 1–5, computed in code so shift evaluation works on any image set.

Images are ``[N, C, H, W]`` floats in [0, 1]. The severity constants are those of the CIFAR-10-C
benchmark (Hendrycks & Dietterich, 2019) for the corruptions it shares with this module; rotation
is an extra one for small digit images.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

GAUSSIAN_NOISE_STD = (0.04, 0.06, 0.08, 0.09, 0.10)
SHOT_NOISE_PHOTONS = (500.0, 250.0, 100.0, 75.0, 50.0)
IMPULSE_NOISE_AMOUNT = (0.01, 0.02, 0.03, 0.05, 0.07)
CONTRAST_FACTOR = (0.75, 0.5, 0.4, 0.3, 0.15)
BRIGHTNESS_SHIFT = (0.05, 0.1, 0.15, 0.2, 0.3)
PIXELATE_SCALE = (0.95, 0.9, 0.85, 0.75, 0.65)
JPEG_QUALITY = (80, 65, 58, 50, 40)
ROTATION_DEGREES = (10.0, 20.0, 30.0, 45.0, 60.0)


def gaussian_noise(images: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Add zero-mean Gaussian noise with a severity-dependent std, then clip to [0, 1]."""
    noise = torch.randn(images.shape, generator=generator) * GAUSSIAN_NOISE_STD[severity - 1]
    return (images + noise).clamp(0.0, 1.0)


def shot_noise(images: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Poisson (photon-count) noise: ``Poisson(x·λ)/λ`` with fewer photons λ at higher severity."""
    photons = SHOT_NOISE_PHOTONS[severity - 1]
    return (torch.poisson(images * photons, generator=generator) / photons).clamp(0.0, 1.0)


def impulse_noise(images: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Salt-and-pepper noise: a fraction of the values set to 0 or 1 (half each)."""
    amount = IMPULSE_NOISE_AMOUNT[severity - 1]
    draw = torch.rand(images.shape, generator=generator)
    corrupted = torch.where(draw < amount / 2, 0.0, images)
    return torch.where((draw >= amount / 2) & (draw < amount), 1.0, corrupted)


def contrast(images: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Pull every pixel towards its image's per-channel mean by a severity-dependent factor."""
    means = images.mean(dim=(-2, -1), keepdim=True)
    return ((images - means) * CONTRAST_FACTOR[severity - 1] + means).clamp(0.0, 1.0)


def brightness(images: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Raise the HSV value channel by a constant, keeping hue and saturation.

    With hue and saturation fixed, RGB is proportional to the value ``V = max(R, G, B)``, so the
    shift is a per-pixel rescaling by ``min(V + c, 1) / V`` (black pixels become grey ``c``).
    """
    shift = BRIGHTNESS_SHIFT[severity - 1]
    value = images.amax(dim=1, keepdim=True)
    scale = (value + shift).clamp(max=1.0) / value.clamp(min=1e-12)
    return torch.where(value > 0, images * scale, torch.full_like(images, shift)).clamp(0.0, 1.0)


def pixelate(images: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Box-downsample by a severity-dependent scale and upsample back with nearest neighbours."""
    height, width = images.shape[-2:]
    scale = PIXELATE_SCALE[severity - 1]
    small = F.interpolate(images, size=(int(height * scale), int(width * scale)), mode="area")
    return F.interpolate(small, size=(height, width), mode="nearest")


def jpeg_compression(images: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Encode every image as JPEG at a severity-dependent quality and decode it again."""
    from torchvision.io import decode_jpeg, encode_jpeg  # here: torchvision costs every trial ~2 s to import

    quality = JPEG_QUALITY[severity - 1]
    as_bytes = (images * 255).round().to(torch.uint8)
    decoded = [decode_jpeg(encode_jpeg(image, quality=quality)) for image in as_bytes]
    return torch.stack(decoded).to(images.dtype) / 255


def rotation(images: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Rotate every image by a severity-dependent angle, alternating the direction per image."""
    from torchvision.transforms.functional import rotate  # here: see jpeg_compression

    angle = ROTATION_DEGREES[severity - 1]
    signs = torch.where(torch.rand(len(images), generator=generator) < 0.5, -1.0, 1.0)
    return torch.stack(
        [rotate(image, float(sign) * angle) for image, sign in zip(images, signs, strict=True)]
    )


CORRUPTIONS: dict[str, Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]] = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "contrast": contrast,
    "brightness": brightness,
    "pixelate": pixelate,
    "jpeg_compression": jpeg_compression,
    "rotation": rotation,
}


def corrupt(images: torch.Tensor, name: str, severity: int, seed: int) -> torch.Tensor:
    """Apply corruption ``name`` at ``severity`` (1–5) with a fixed random seed."""
    if not 1 <= severity <= 5:
        raise ValueError(f"severity must be in 1..5, got {severity}")
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}")
    return CORRUPTIONS[name](images, severity, torch.Generator().manual_seed(seed))
