"""Training a network an epoch at a time on the trial's device: seeding, mini-batches (on device or
streamed from host memory), the compiled forward pass, and one epoch on a likelihood's loss."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from bdlsweep.trainables.inference.likelihoods import LIKELIHOODS, Likelihood
from bdlsweep.trainables.runtime.host_batches import host_batches
from bdlsweep.trainables.settings import SpeedSettings

CLASSIFICATION = LIKELIHOODS["classification"]
DEFAULT_SPEED = SpeedSettings()


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch generator for data order."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def trial_device() -> torch.device:
    """The GPU Ray assigned to this trial, or the CPU when it assigned none."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def batches(
    inputs: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches of tensors already on their device; shuffled when a generator is given."""
    if generator is None:
        order = torch.arange(len(labels))
    else:
        order = torch.randperm(len(labels), generator=generator)
    order = order.to(inputs.device)
    for start in range(0, len(labels), batch_size):
        index = order[start : start + batch_size]
        yield inputs[index], labels[index]


def for_training(model: nn.Module, speed: SpeedSettings) -> nn.Module:
    """The module to train ``model`` with: its weights channels-last and its forward pass compiled
    where ``speed`` asks (parameters shared, so optimizers and checkpoints keep using ``model``)."""
    if speed.channels_last:
        model.to(memory_format=torch.channels_last)
    return model if speed.compile is None else torch.compile(model, backend=speed.compile)


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
    likelihood: Likelihood = CLASSIFICATION,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    speed: SpeedSettings = DEFAULT_SPEED,
) -> float:
    """One pass of training on the likelihood's loss; the loss is summed on device and read once.

    ``augment`` (the dataset's, when the method's settings ask for it) transforms each batch;
    ``speed`` sets the precision of forward passes, the memory layout of image batches and whether
    batches come from the device or are streamed from host memory to the model's device.
    """
    model.train()
    device = next(model.parameters()).device
    total = torch.zeros((), device=device)
    bf16 = speed.precision == "bf16"
    if speed.train_data == "host":
        stream = host_batches(inputs, labels, batch_size, generator, device, speed.loader_workers)
    else:
        stream = batches(inputs, labels, batch_size, generator)
    for batch_inputs, batch_labels in stream:
        if augment is not None:
            batch_inputs = augment(batch_inputs, generator)
        if speed.channels_last and batch_inputs.ndim == 4:
            batch_inputs = batch_inputs.contiguous(memory_format=torch.channels_last)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = likelihood.loss(model(batch_inputs), batch_labels)
        loss.backward()
        optimizer.step()
        total += loss.detach() * len(batch_labels)
    return float(total) / len(labels)
