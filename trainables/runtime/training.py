"""The training loop shared by every method: on-device batching, SGD/Adam, schedules, validation."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from functools import partial

import numpy as np
import torch
from torch import nn

from bdlsweep.trainables.inference.likelihoods import LIKELIHOODS, Likelihood
from bdlsweep.trainables.runtime.host_batches import host_batches
from bdlsweep.trainables.settings import OptimizerSettings, ScheduleSettings, SpeedSettings

EVAL_BATCH_SIZE = 1024
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


def build_optimizer(parameters, settings: OptimizerSettings) -> torch.optim.Optimizer:
    """The optimizer a stage's settings name."""
    if settings.name == "sgd":
        return torch.optim.SGD(
            parameters,
            lr=settings.lr,
            momentum=settings.momentum,
            nesterov=settings.nesterov and settings.momentum > 0,
            weight_decay=settings.weight_decay,
        )
    optimizer_class = torch.optim.Adam if settings.name == "adam" else torch.optim.AdamW
    return optimizer_class(parameters, lr=settings.lr, weight_decay=settings.weight_decay)


def swa_factor(final_ratio: float, epochs: int, epoch: int) -> float:
    """SWA's learning-rate factor at ``epoch`` (from 0) of ``epochs``: 1 up to half way, linear down to
    ``final_ratio`` at 90%, then ``final_ratio``."""
    progress = epoch / epochs
    if progress <= 0.5:
        return 1.0
    if progress <= 0.9:
        return 1.0 - (1.0 - final_ratio) * (progress - 0.5) / 0.4
    return final_ratio


def build_schedule(
    optimizer: torch.optim.Optimizer, settings: ScheduleSettings, epochs: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """A per-epoch learning-rate schedule."""
    if settings.name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if settings.name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, settings.step_size, settings.gamma)
    if settings.name == "swa":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, partial(swa_factor, settings.final_ratio, epochs))
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


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


@torch.no_grad()
def predictive_outputs(
    model: nn.Module, inputs: torch.Tensor, likelihood: Likelihood = CLASSIFICATION
) -> torch.Tensor:
    """One sample's predictive (log-probabilities, or means and variances) in eval mode, batched."""
    model.eval()
    chunks = [
        likelihood.predictive(model(inputs[start : start + EVAL_BATCH_SIZE]))
        for start in range(0, len(inputs), EVAL_BATCH_SIZE)
    ]
    return torch.cat(chunks)


def has_batch_norm(model: nn.Module) -> bool:
    """Whether ``model`` holds batch-norm layers whose statistics depend on its weights."""
    return any(isinstance(module, nn.modules.batchnorm._BatchNorm) for module in model.modules())


BATCH_NORM_EXAMPLES = 4096


def update_batch_norm(model: nn.Module, train_inputs: torch.Tensor, batch_size: int = 256) -> None:
    """Recompute batch-norm running statistics (torch's ``update_bn``) on a fixed training subset.

    The subset is the first ``BATCH_NORM_EXAMPLES`` of one fixed permutation of the training
    inputs, the same for every weight sample, so a sample costs a bounded number of forward passes.
    Inputs kept in host memory are moved to the model's device a batch at a time.
    """
    if len(train_inputs) > BATCH_NORM_EXAMPLES:
        order = torch.randperm(len(train_inputs), generator=torch.Generator().manual_seed(0))
        train_inputs = train_inputs[order[:BATCH_NORM_EXAMPLES].to(train_inputs.device)]
    loader = [train_inputs[start : start + batch_size] for start in range(0, len(train_inputs), batch_size)]
    torch.optim.swa_utils.update_bn(loader, model, device=next(model.parameters()).device)


def weight_vector(parameters: Iterable[torch.Tensor]) -> torch.Tensor:
    """The parameters as one flat vector in ``parameters_to_vector``'s order; unlike it, this also
    takes channels-last weights (``reshape`` copies where ``view`` cannot)."""
    return torch.cat([parameter.reshape(-1) for parameter in parameters])


def load_weight_vector(model: nn.Module, weights: torch.Tensor, train_inputs: torch.Tensor | None) -> None:
    """Put a flattened weight vector into ``model``; recompute batch norm for it where the model has any."""
    torch.nn.utils.vector_to_parameters(weights, model.parameters())
    if has_batch_norm(model):
        if train_inputs is None:
            raise ValueError("the model has batch norm: training inputs are needed to update it")
        update_batch_norm(model, train_inputs)
