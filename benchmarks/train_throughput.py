"""Images/s of the framework's WRN-16-4 training epoch vs a hand-written PyTorch loop, same data and layout.

Run: ``python benchmarks/train_throughput.py [--images 512] [--batch-size 128] [--device cuda]``.
Both loops see CIFAR-shaped synthetic images already on the device, the same batch size, SGD with
Nesterov momentum and crop + flip augmentation; the framework's is ``training.train_epoch`` with
the dataset's ``CropFlip``. Prints both rates and their ratio (framework / plain; 1.0 = parity).
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from bdlsweep.trainables.data.image_sets import CropFlip
from bdlsweep.trainables.models import build_model
from bdlsweep.trainables.training import train_epoch


def _model(device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("wide_resnet", {"depth": 16, "widen_factor": 4}, (3, 32, 32), 10).to(device)


def _optimizer(model: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)


def plain_epoch(model, optimizer, images, labels, batch_size: int) -> None:
    """A hand-written epoch: shuffle, pad-crop-flip each batch, cross-entropy, SGD step."""
    model.train()
    order = torch.randperm(len(labels), device=images.device)
    for start in range(0, len(labels), batch_size):
        index = order[start : start + batch_size]
        batch = F.pad(images[index], (4, 4, 4, 4))
        dx, dy = torch.randint(0, 9, (2,)).tolist()
        batch = batch[:, :, dy : dy + 32, dx : dx + 32]
        if torch.rand(()) < 0.5:
            batch = batch.flip(-1)
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(batch), labels[index]).backward()
        optimizer.step()


def _rate(run, images: int, device: torch.device) -> float:
    run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return images / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    images = torch.randn(args.images, 3, 32, 32, device=device)
    labels = torch.randint(0, 10, (args.images,), device=device)
    augment = CropFlip(4, torch.zeros(3))
    generator = torch.Generator().manual_seed(0)

    model = _model(device)
    optimizer = _optimizer(model)
    framework = _rate(
        lambda: train_epoch(model, optimizer, images, labels, args.batch_size, generator, augment=augment),
        args.images,
        device,
    )
    model = _model(device)
    optimizer = _optimizer(model)
    plain = _rate(lambda: plain_epoch(model, optimizer, images, labels, args.batch_size), args.images, device)
    print(f"device {device}: framework {framework:.1f} images/s, plain loop {plain:.1f} images/s")
    print(f"ratio (framework / plain): {framework / plain:.3f}")


if __name__ == "__main__":
    main()
