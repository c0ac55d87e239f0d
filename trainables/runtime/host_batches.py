"""Training batches streamed from host memory through a DataLoader with worker processes and pinned
memory, for training sets kept off the device (``speed.train_data: host``)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import BatchSampler, DataLoader, TensorDataset

WORKER_SEEDS = 0


def host_batches(
    inputs: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
    workers: int,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches in the order ``training.batches`` draws from ``generator``, gathered by ``workers``
    processes, pinned when ``device`` is a GPU and copied to it without blocking.

    The loader's own generator (which seeds its workers) is a fixed one, so the trial's generator and
    torch's global one draw exactly what on-device batching draws.
    """
    order = torch.randperm(len(labels), generator=generator).tolist()
    loader = DataLoader(
        TensorDataset(inputs, labels),
        batch_size=None,
        sampler=BatchSampler(order, batch_size, drop_last=False),
        num_workers=workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(WORKER_SEEDS),
    )
    for batch_inputs, batch_labels in loader:
        yield batch_inputs.to(device, non_blocking=True), batch_labels.to(device, non_blocking=True)
