"""Predictives of many weight samples of one network, several samples per forward pass.

``torch.func.vmap`` over ``torch.func.functional_call`` runs a chunk of weight vectors through the
network at once (one batched matmul per layer instead of one small matmul per sample), without
writing them into the module. It gives the values that loading each vector in turn would; networks
with batch norm (re-estimated per sample) and non-tensor inputs (tokens, molecules) keep that loop.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import torch
from torch import nn

from bdlsweep.trainables.inference.likelihoods import Likelihood
from bdlsweep.trainables.inference.network_weights import EVAL_BATCH_SIZE

SAMPLE_BATCH_INPUTS = 8192
"""Inputs × samples one batched forward pass may hold: its activations bound the memory it needs."""


def samples_per_pass(num_inputs: int) -> int:
    """How many weight samples go through the network together for ``num_inputs`` inputs per pass."""
    return max(1, SAMPLE_BATCH_INPUTS // max(1, min(num_inputs, EVAL_BATCH_SIZE)))


@torch.no_grad()
def batched_predictive(
    model: nn.Module, weight_vectors: Iterable[torch.Tensor], inputs: torch.Tensor, likelihood: Likelihood
) -> torch.Tensor:
    """Per-sample predictives ``[S, N, K]`` of flat weight vectors (``parameters_to_vector`` order), in
    eval mode, inputs in chunks of ``EVAL_BATCH_SIZE`` and samples in chunks of ``samples_per_pass``."""
    model.eval()
    named = list(model.named_parameters())
    sizes = [parameter.numel() for _, parameter in named]
    buffers = dict(model.named_buffers())

    def predict(flat: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        pieces = flat.split(sizes)
        parameters = {name: piece.view_as(p) for (name, p), piece in zip(named, pieces, strict=True)}
        return likelihood.predictive(torch.func.functional_call(model, (parameters, buffers), (batch,)))

    over_samples = torch.func.vmap(predict, in_dims=(0, None))
    rows = min(len(inputs), EVAL_BATCH_SIZE)
    draws = iter(weight_vectors)
    outputs = []
    while chunk := list(itertools.islice(draws, samples_per_pass(len(inputs)))):
        stacked = torch.stack(chunk)
        parts = [over_samples(stacked, inputs[start : start + rows]) for start in range(0, len(inputs), rows)]
        outputs.append(torch.cat(parts, dim=1))
    return torch.cat(outputs)
