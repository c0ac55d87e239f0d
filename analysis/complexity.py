"""Model complexity as TorchUncertainty's tutorial reports it: parameters, and FLOPs per prediction
counted by ``torch.utils.flop_counter`` (matrix products and convolutions, 2 FLOPs per multiply-add)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode


def counted_flops(run: Callable[[], Any]) -> int:
    """FLOPs that torch's flop counter sees while ``run()`` executes."""
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


def flops_per_example(run: Callable[[Any], Any], inputs: Any) -> float:
    """FLOPs per input of ``run(inputs)``, marginal in the number of inputs: the count for all of
    ``inputs`` minus the count for their first half, per extra input, so that work done once per
    call (a batch-norm update, drawing head weights) is not charged to the predictions."""
    half = len(inputs) // 2
    if half == 0:
        raise ValueError("counting FLOPs per example needs at least two inputs")
    whole = counted_flops(lambda: run(inputs))
    return (whole - counted_flops(lambda: run(inputs[:half]))) / (len(inputs) - half)


@dataclass(frozen=True)
class SampleCost:
    """FLOPs per prediction of a posterior as ``fixed + per_sample · samples`` (for example a backbone
    pass once and a last layer per sample); a deterministic posterior has ``per_sample`` 0."""

    fixed: float
    per_sample: float

    def at(self, samples: int) -> float:
        """FLOPs per prediction with ``samples`` posterior samples."""
        return self.fixed + self.per_sample * samples


def posterior_cost(posterior: Any, inputs: Any, generator: Callable[[], torch.Generator]) -> SampleCost:
    """The affine FLOP cost of ``posterior.predict`` in its number of samples, from counts at one and
    two samples (``generator()`` gives a fresh generator for each call)."""
    one = flops_per_example(lambda batch: posterior.predict(batch, 1, generator()), inputs)
    two = flops_per_example(lambda batch: posterior.predict(batch, 2, generator()), inputs)
    return SampleCost(fixed=2 * one - two, per_sample=two - one)


def num_parameters(model: torch.nn.Module) -> int:
    """The number of weights of ``model`` (TorchUncertainty's ``params``)."""
    return sum(parameter.numel() for parameter in model.parameters())
