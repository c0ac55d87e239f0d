"""A network's weights as one flat vector, put back with batch norm recomputed, and one weight setting's
predictive over a set in batches: what posteriors, the maths over weights and the trials share."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from bdlsweep.trainables.inference.likelihoods import LIKELIHOODS, Likelihood

EVAL_BATCH_SIZE = 1024
CLASSIFICATION = LIKELIHOODS["classification"]


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
