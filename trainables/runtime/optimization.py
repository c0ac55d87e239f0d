"""The optimizer and per-epoch learning-rate schedule a stage's settings name (SWA's schedule included)."""

from __future__ import annotations

from functools import partial

import torch

from bdlsweep.trainables.settings import OptimizerSettings, ScheduleSettings


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
