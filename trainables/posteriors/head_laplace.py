"""laplace-torch's Laplace approximation of the last layer (LLLA): fitted on cached backbone features
(whole head, or one per regression mean), stored as plain tensors in a prepared folder, its Gaussian
read out for LA-NF's base, and ``LLLAPosterior``, the last-layer posterior that samples from it.

The Laplace approximation of the final linear layer is built as laplace-torch's
``subset_of_weights='all'`` on the head over precomputed features, which is the same posterior as
``subset_of_weights='last_layer'`` on the whole network without a backbone pass per prior precision.
laplace-torch is imported where it is used: importing it (with torchmetrics, torchvision and
transformers) takes seconds, which every evaluation actor and trial of another method would pay.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from bdlsweep.trainables.posteriors.checkpoint import read_checkpoint
from bdlsweep.trainables.posteriors.last_layer import (
    LastLayerPosterior,
    RegressionHead,
    augmented_features,
    head_variances,
)
from bdlsweep.trainables.posteriors.single_network import FixedWeightsPosterior

HessianStructure = Literal["full", "diag", "kron"]


def fit_head_laplace(
    head: nn.Linear,
    features: torch.Tensor,
    labels: torch.Tensor,
    hessian: HessianStructure,
    batch_size: int = 256,
):
    """laplace-torch's Laplace approximation of ``head`` fitted on cached features."""
    from laplace import Laplace

    laplace = Laplace(
        copy.deepcopy(head), "classification", subset_of_weights="all", hessian_structure=hessian
    )
    laplace.fit(DataLoader(TensorDataset(features, labels), batch_size=batch_size))
    return laplace


def mean_row(head: nn.Linear, dim: int) -> nn.Linear:
    """Output ``dim``'s mean weights and bias as a bias-free ``Linear(F + 1, 1)``."""
    row = nn.Linear(head.in_features + 1, 1, bias=False).to(head.weight)
    with torch.no_grad():
        row.weight.copy_(torch.cat([head.weight[dim], head.bias[dim : dim + 1]])[None])
    return row


def fit_mean_head_laplaces(
    head: nn.Linear,
    features: torch.Tensor,
    targets: torch.Tensor,
    hessian: HessianStructure,
    batch_size: int = 256,
) -> list:
    """laplace-torch regression Laplace approximations of each output's mean weights.

    The network predicts a variance σ²(x) per output; with it fixed at the MAP value, the mean
    weights of output d form a linear-Gaussian model whose Hessian is Σ x̃ x̃ᵀ/σ²_d(x). That is
    laplace-torch's ``likelihood='regression'`` (σ_noise = 1) on inputs and targets divided by
    σ_d(x), with x̃ the features with a constant 1 appended for the bias.
    """
    from laplace import Laplace

    scale = head_variances(head, features).sqrt()
    inputs = augmented_features(features)
    laplaces = []
    for dim in range(scale.shape[1]):
        laplace = Laplace(
            mean_row(head, dim), "regression", subset_of_weights="all", hessian_structure=hessian
        )
        whitened = TensorDataset(
            inputs / scale[:, dim : dim + 1], targets[:, dim : dim + 1] / scale[:, dim : dim + 1]
        )
        laplace.fit(DataLoader(whitened, batch_size=batch_size))
        laplaces.append(laplace)
    return laplaces


def fit_whole_head_laplace(
    head: nn.Linear,
    features: torch.Tensor,
    targets: torch.Tensor,
    hessian: HessianStructure,
    batch_size: int = 256,
):
    """laplace-torch's Laplace over every weight of a mean-and-variance head (weights, then biases),
    with the exact Hessian of the heteroscedastic Gaussian NLL (``full`` or ``diag``)."""
    from laplace import Laplace

    from bdlsweep.trainables.inference.gaussian_nll_hessian import GaussianNLLHessian

    if hessian == "kron":
        raise ValueError("regression_head: whole has an exact Hessian, not a Kronecker one; use full or diag")
    laplace = Laplace(
        copy.deepcopy(head),
        "regression",
        subset_of_weights="all",
        hessian_structure=hessian,
        backend=GaussianNLLHessian,
    )
    laplace.fit(DataLoader(TensorDataset(features, targets), batch_size=batch_size))
    return laplace


def is_gaussian(laplace) -> bool:
    """Whether the Laplace's posterior precision (Hessian + prior) is positive definite at its prior
    precision, as an exact Hessian away from a minimum need not be."""
    precision = laplace.posterior_precision
    if precision.dim() == 1:
        return bool((precision > 0).all())
    return int(torch.linalg.cholesky_ex(precision).info) == 0


def laplace_gaussian(laplace) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and lower-triangular covariance factor of a laplace-torch Gaussian (full, diag, kron)."""
    if hasattr(laplace, "posterior_covariance"):
        covariance = laplace.posterior_covariance
    elif hasattr(laplace, "posterior_variance"):
        return laplace.mean, torch.diag(laplace.posterior_variance.sqrt())
    else:
        covariance = torch.linalg.inv(laplace.posterior_precision.to_matrix())
    covariance = (covariance + covariance.T) / 2
    return laplace.mean, torch.linalg.cholesky(covariance)


def laplace_to_tensors(laplace) -> dict[str, Any]:
    """laplace-torch's state_dict in a form ``torch.load(weights_only=True)`` accepts."""
    from laplace.utils.matrix import Kron

    state = dict(laplace.state_dict())
    hessian = state.pop("H")
    if isinstance(hessian, Kron):
        state["H_kron"] = hessian.kfacs
    else:
        state["H"] = hessian
    state["likelihood"] = str(getattr(state["likelihood"], "value", state["likelihood"]))
    return state


def laplace_from_tensors(
    head: nn.Linear, hessian: HessianStructure, state: dict[str, Any], likelihood: str = "classification"
):
    """The Laplace approximation of ``head`` that ``laplace_to_tensors`` stored."""
    from laplace import Laplace
    from laplace.utils.matrix import Kron

    state = dict(state)
    if "H_kron" in state:
        state["H"] = Kron(state.pop("H_kron"))
    laplace = Laplace(head, likelihood, subset_of_weights="all", hessian_structure=hessian)
    laplace.load_state_dict(state)
    return laplace


class LLLAPosterior(LastLayerPosterior):
    """Gaussian posterior over the last layer from laplace-torch.

    Classification: one Laplace over the whole head. Regression: with ``regression_head`` ``whole``,
    the same over the means' and variances' weights; with ``means``, one Laplace per output over its
    mean weights, the variance part of the head kept at its MAP value.
    """

    method: ClassVar[str] = "llla"

    def __init__(
        self,
        model: nn.Module,
        laplaces: list,
        predictive: str,
        base: str,
        prepared: str,
        hessian: HessianStructure,
        likelihood: str = "classification",
        regression_head: RegressionHead = "means",
    ) -> None:
        super().__init__(model, base, prepared, likelihood, regression_head)
        self.laplaces = laplaces
        self.predictive = predictive
        self.hessian = hessian
        self.deterministic = predictive == "probit"

    @classmethod
    def predicts_once(cls, settings: Any) -> bool:
        """The probit predictive is one closed-form prediction, not samples."""
        return settings.predictive == "probit"

    @property
    def laplace(self):
        """The Laplace approximation of a classification head."""
        return self.laplaces[0]

    @property
    def prior_precision(self) -> float:
        """The (scalar) prior precision of the head weights."""
        return float(self.laplaces[0].prior_precision)

    @prior_precision.setter
    def prior_precision(self, value: float) -> None:
        for laplace in self.laplaces:
            laplace.prior_precision = value

    def sample_heads(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        """Each Laplace's samples side by side (one Laplace per regression mean, output after output)."""
        return torch.cat([laplace.sample(num_samples, generator=generator) for laplace in self.laplaces], 1)

    def predict_from_features(
        self, features: torch.Tensor, num_samples: int, generator: torch.Generator
    ) -> torch.Tensor:
        """Per-sample predictives ``[S, N, K]`` from backbone features; classification ``glm`` and
        ``probit`` go through laplace-torch's linearised predictive. For regression ``glm`` and ``nn``
        coincide (the mean is linear in the sampled weights)."""
        if self.likelihood == "regression" and self.predictive == "probit":
            raise ValueError("the probit predictive is for classification; use nn or glm")
        if self.likelihood == "regression" or self.predictive == "nn":
            return super().predict_from_features(features, num_samples, generator)
        if self.predictive == "probit":
            probs = self.laplace(features, pred_type="glm", link_approx="probit")[None]
        else:
            probs = self.laplace.predictive_samples(
                features, pred_type="glm", n_samples=num_samples, generator=generator
            )
        return probs.clamp_min(torch.finfo(probs.dtype).tiny).log()

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return (
            {
                **self.family_state(),
                "hessian": self.hessian,
                "predictive": self.predictive,
                "prior_precision": self.prior_precision,
            },
            {},
        )

    @classmethod
    def from_state(
        cls,
        metadata: dict[str, Any],
        state: dict[str, Any],
        device: torch.device,
        train_inputs: torch.Tensor | None,
    ) -> LLLAPosterior:
        posterior, _ = prepared_posterior(metadata["prepared"], metadata["predictive"], device)
        posterior.prior_precision = metadata["prior_precision"]
        return posterior


def prepared_posterior(
    prepared: str | Path, predictive: str, device: torch.device | str = "cpu"
) -> tuple[LLLAPosterior, torch.Tensor]:
    """A prepared seed's LLLA posterior (at its fitted prior precision) and validation features."""
    metadata, state = read_checkpoint(prepared, map_location=device)
    base = FixedWeightsPosterior.load(metadata["base"], device)
    head, hessian = base.model.head, metadata["hessian"]
    regression_head = metadata.get("regression_head", "means")  # folders prepared before it was a choice
    if metadata["likelihood"] == "regression" and regression_head == "whole":
        laplaces = [laplace_from_tensors(head, hessian, state["laplaces"][0], "regression")]
    elif metadata["likelihood"] == "regression":
        laplaces = [
            laplace_from_tensors(mean_row(head, dim), hessian, tensors, "regression")
            for dim, tensors in enumerate(state["laplaces"])
        ]
    else:
        laplaces = [laplace_from_tensors(head, hessian, state["laplaces"][0])]
    posterior = LLLAPosterior(
        base.model,
        laplaces,
        predictive,
        metadata["base"],
        str(prepared),
        hessian,
        metadata["likelihood"],
        regression_head,
    )
    return posterior, state["val_features"]
