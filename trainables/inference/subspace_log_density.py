"""Exact log-densities of a network at the weights of subspace coordinates: the full training set's
summed log-likelihood (subspace ESS, posterior surfaces) and the Gaussian prior's log-density."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils import vector_to_parameters

from bdlsweep.trainables.inference.likelihoods import Likelihood
from bdlsweep.trainables.inference.network_weights import EVAL_BATCH_SIZE
from bdlsweep.trainables.inference.weight_subspaces import Subspace


def full_batch_log_likelihood(
    model: nn.Module, subspace: Subspace, inputs: torch.Tensor, labels: torch.Tensor, likelihood: Likelihood
) -> Callable[[torch.Tensor], float]:
    """log p(D | z): the summed log-likelihood of (``inputs``, ``labels``) at the weights of coordinates z
    (batch-norm statistics stay as ``model`` holds them)."""
    parameters = list(model.parameters())

    @torch.no_grad()
    def log_likelihood(coordinates: torch.Tensor) -> float:
        vector_to_parameters(subspace.weights(coordinates), parameters)
        total = torch.zeros((), device=subspace.shift.device)
        for start in range(0, len(labels), EVAL_BATCH_SIZE):
            chunk = slice(start, start + EVAL_BATCH_SIZE)
            total -= likelihood.loss(model(inputs[chunk]), labels[chunk]) * len(labels[chunk])
        return float(total)

    return log_likelihood


def gaussian_log_prior(weights: torch.Tensor, precision: float) -> float:
    """log N(w; 0, I / ``precision``) with its normalising constant (precision = weight decay)."""
    squared = float(weights.double().pow(2).sum())
    return -0.5 * precision * squared + 0.5 * weights.numel() * math.log(precision / (2 * math.pi))
