"""A laplace-torch curvature backend: the exact Hessian of a heteroscedastic Gaussian NLL.

laplace-torch's backends give the GGN or Fisher of a Gaussian with one fixed noise level. A network
whose outputs are means and (softplus) variances, as the QM9 PaiNN's last ``Linear(64 → 2)``, needs
the Hessian of −log N(y; μ(θ), σ²(θ)) in all of its weights, means and variances alike (Jordahn et al. (2025):
"exact Hessian of the Gaussian NLL" over the head's 130 weights). ``torch.func.hessian`` gives it
exactly for a layer this small. Pass the class as ``Laplace(..., "regression", backend=...)``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from laplace.curvature import CurvatureInterface
from torch.nn.utils import parameters_to_vector

from bdlsweep.trainables.inference.likelihoods import LIKELIHOODS, GaussianRegression


class GaussianNLLHessian(CurvatureInterface):
    """Exact ``full`` and ``diag`` curvature of Σₙ −log N(yₙ; μ, σ²) for outputs ``[means, raw variances]``.

    The loss it returns is the NLL less ½·log 2π per target, because laplace-torch's regression
    log-likelihood subtracts ½·log 2π per *output* (here two per target): the log marginal
    likelihood then comes out exact.
    """

    def _negative_log_likelihood(self, flat: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor):
        params, start = {}, 0
        for name, value in self.params_dict.items():
            params[name] = flat[start : start + value.numel()].view_as(value)
            start += value.numel()
        outputs = torch.func.functional_call(self.model, (params, self.buffers_dict), (inputs,))
        means, variances = GaussianRegression.split(LIKELIHOODS["regression"].predictive(outputs))
        return 0.5 * (variances.log() + (targets - means) ** 2 / variances).sum()

    def full(self, x: torch.Tensor, y: torch.Tensor, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's NLL (see the class) and its Hessian ``[P, P]`` in the model's weights."""
        flat = parameters_to_vector(self.params).detach()
        hessian = torch.func.hessian(self._negative_log_likelihood)(flat, x, y)
        loss = self._negative_log_likelihood(flat, x, y).detach() - 0.5 * y.numel() * math.log(2 * math.pi)
        return loss, hessian.detach()

    def diag(self, x: torch.Tensor, y: torch.Tensor, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's NLL and the diagonal ``[P]`` of its exact Hessian."""
        loss, hessian = self.full(x, y)
        return loss, hessian.diagonal().clone()
