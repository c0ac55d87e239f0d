"""Images/s of the framework's WRN-16-4 training epoch vs a hand-written PyTorch loop, same data and layout.

Run: ``python benchmarks/train_throughput.py [--images 512] [--batch-size 128] [--device cuda]
[--precision bf16] [--channels-last] [--compile inductor] [--train-data host]``; both loops get the
same speed settings. Both loops see CIFAR-shaped synthetic images, the same batch size, SGD with
Nesterov momentum and crop + flip augmentation; the framework's is ``training.train_epoch`` with
the dataset's ``CropFlip``. The plain loop's images are on the device; the framework's too, or with
``--train-data host`` in host memory, streamed through its pinned DataLoader (the ratio is then the
cost of streaming). Prints both rates and their ratio (framework / plain; 1.0 = parity).
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F
from timing import timed

from bdlsweep.trainables.data.image_sets import CropFlip
from bdlsweep.trainables.models import build_model
from bdlsweep.trainables.runtime.training import for_training, train_epoch
from bdlsweep.trainables.settings import SpeedSettings


def _model(device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("wide_resnet", {"depth": 16, "widen_factor": 4}, (3, 32, 32), 10).to(device)


def _optimizer(model: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)


def plain_epoch(model, optimizer, images, labels, batch_size: int, channels_last=False, bf16=False) -> None:
    """A hand-written epoch: shuffle, pad-crop-flip each batch, cross-entropy (under bf16 autocast when
    asked), SGD step."""
    model.train()
    order = torch.randperm(len(labels), device=images.device)
    for start in range(0, len(labels), batch_size):
        index = order[start : start + batch_size]
        batch = F.pad(images[index], (4, 4, 4, 4))
        dx, dy = torch.randint(0, 9, (2,)).tolist()
        batch = batch[:, :, dy : dy + 32, dx : dx + 32]
        if torch.rand(()) < 0.5:
            batch = batch.flip(-1)
        if channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(batch), labels[index])
        loss.backward()
        optimizer.step()


def measure(
    images: int, batch_size: int, device: torch.device, speed: SpeedSettings, repeats: int = 1
) -> dict:
    """Images/s of both loops (one warm-up epoch, the median of ``repeats`` timed ones), each with
    ``speed``'s precision, memory layout and compile backend, and their peak CUDA memory."""
    inputs = torch.randn(images, 3, 32, 32, device=device)
    labels = torch.randint(0, 10, (images,), device=device)
    augment = CropFlip(4, torch.zeros(3))
    generator = torch.Generator().manual_seed(0)

    model = _model(device)
    optimizer = _optimizer(model)
    trained = for_training(model, speed)

    host = speed.train_data == "host"
    framework_inputs, framework_labels = (inputs.cpu(), labels.cpu()) if host else (inputs, labels)

    def framework_epoch() -> None:
        train_epoch(
            trained,
            optimizer,
            framework_inputs,
            framework_labels,
            batch_size,
            generator,
            augment=augment,
            speed=speed,
        )

    framework_s, framework_peak = timed(framework_epoch, device, repeats)
    model = _model(device)
    optimizer = _optimizer(model)
    if speed.channels_last:
        model.to(memory_format=torch.channels_last)
    plain_model = model if speed.compile is None else torch.compile(model, backend=speed.compile)

    def plain() -> None:
        bf16 = speed.precision == "bf16"
        plain_epoch(plain_model, optimizer, inputs, labels, batch_size, speed.channels_last, bf16)

    plain_s, plain_peak = timed(plain, device, repeats)
    return {
        "device": str(device),
        **speed.model_dump(),
        "framework_images_per_s": images / framework_s,
        "plain_images_per_s": images / plain_s,
        "ratio": plain_s / framework_s,
        "framework_peak_mib": framework_peak / 2**20,
        "plain_peak_mib": plain_peak / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", default=None, help="a torch.compile backend, e.g. inductor")
    parser.add_argument("--train-data", choices=["device", "host"], default="device")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    speed = SpeedSettings(
        precision=args.precision,
        channels_last=args.channels_last,
        compile=args.compile,
        train_data=args.train_data,
    )
    print(json.dumps(measure(args.images, args.batch_size, torch.device(args.device), speed, args.repeats)))


if __name__ == "__main__":
    main()
