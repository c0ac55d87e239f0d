"""Random CIFAR-10 files in the public pickle format, for benchmarks that need CIFAR-shaped data."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


def write_synthetic_cifar10(root: Path, images: int, test: int = 1000) -> None:
    """Random CIFAR-10 pickles (5 training batches + test batch) in the layout torchvision publishes."""
    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{index}" for index in range(1, 6)]
    for name, count in [*((name, images // 5) for name in names), ("test_batch", test)]:
        batch = {
            "data": rng.integers(0, 256, (count, 3 * 32 * 32), dtype=np.uint8),
            "labels": rng.integers(0, 10, count).tolist(),
        }
        with (folder / name).open("wb") as handle:
            pickle.dump(batch, handle)
