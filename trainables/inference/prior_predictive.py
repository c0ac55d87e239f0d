"""What a Gaussian prior over a network's weights says before any data (Wilson & Izmailov 2020):
raw outputs of networks whose weights are drawn from N(0, variance · I), and the correlations those
outputs induce between inputs (pairs of images, or an image and its corrupted copy)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils import vector_to_parameters

from bdlsweep.trainables.inference.network_weights import EVAL_BATCH_SIZE, weight_vector


@torch.no_grad()
def prior_outputs(
    model: nn.Module, inputs: torch.Tensor, variance: float, num_samples: int, seed: int = 0
) -> torch.Tensor:
    """Raw outputs ``[S, N, K]`` (logits, or means and raw variances) of ``model``'s architecture with
    every weight and bias drawn independently from N(0, ``variance``), ``num_samples`` times; batch norm
    in eval mode. ``model``'s own weights are overwritten."""
    if variance < 0:
        raise ValueError(f"a prior variance must not be negative (got {variance})")
    model.eval()
    size = len(weight_vector(model.parameters()))
    generator = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(num_samples):
        weights = torch.randn(size, generator=generator) * variance**0.5
        vector_to_parameters(weights, model.parameters())
        starts = range(0, len(inputs), EVAL_BATCH_SIZE)
        samples.append(torch.cat([model(inputs[start : start + EVAL_BATCH_SIZE]) for start in starts]))
    return torch.stack(samples)


def _centred(outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each input's outputs over samples, centred per output, as one vector ``[N, S·K]``, and their
    norms with zeros replaced by one (an input whose outputs never vary then correlates 0)."""
    values = outputs.double()
    centred = (values - values.mean(dim=0, keepdim=True)).permute(1, 0, 2).reshape(values.shape[1], -1)
    norms = centred.norm(dim=1)
    return centred, torch.where(norms > 0, norms, torch.ones_like(norms))


def input_correlations(outputs: torch.Tensor) -> np.ndarray:
    """``[N, N]`` correlations between inputs of the prior's outputs ``[S, N, K]``: for each pair, the
    Pearson correlation over samples and outputs (each output centred over samples)."""
    centred, norms = _centred(outputs)
    return ((centred @ centred.T) / (norms[:, None] * norms[None, :])).numpy()


def class_correlations(correlations: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``[C, C]`` mean input correlation between the inputs of class i and those of class j (an input
    with itself left out), the prior correlation diagram between classes."""
    labels = np.asarray(labels)
    off_diagonal = ~np.eye(len(labels), dtype=bool)
    table = np.full((num_classes, num_classes), np.nan)
    for i in range(num_classes):
        for j in range(num_classes):
            block = (labels[:, None] == i) & (labels[None, :] == j) & off_diagonal
            if block.any():
                table[i, j] = correlations[block].mean()
    return table


def paired_correlation(clean: torch.Tensor, shifted: torch.Tensor) -> float:
    """Mean over inputs of the correlation between an input's prior outputs and those of its shifted
    copy (``[S, N, K]`` each, from the same weight samples)."""
    (first, first_norms), (second, second_norms) = _centred(clean), _centred(shifted)
    return float(((first * second).sum(dim=1) / (first_norms * second_norms)).mean())
