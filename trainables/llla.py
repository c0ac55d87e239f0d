"""Last-layer Laplace (LLLA) with laplace-torch, fitted once per seed on cached backbone features.

The Laplace approximation of the final linear layer is built as laplace-torch's
``subset_of_weights='all'`` on the head over precomputed features, which is the same posterior as
``subset_of_weights='last_layer'`` on the whole network without a backbone pass per prior
precision. Each grid trial only sets the prior precision and samples head weights.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from laplace import Laplace
from laplace.utils.matrix import Kron
from pydantic import Field
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from bdlsweep.trainables.checkpoint import read_checkpoint, write_checkpoint
from bdlsweep.trainables.context import TrialContext
from bdlsweep.trainables.map import MAPPosterior
from bdlsweep.trainables.method import Method
from bdlsweep.trainables.posterior import Posterior
from bdlsweep.trainables.reporting import report, trial_seed
from bdlsweep.trainables.settings import MethodSettings
from bdlsweep.trainables.training import CLASSIFICATION, EVAL_BATCH_SIZE, trial_device

HessianStructure = Literal["full", "diag", "kron"]


class LLLASettings(MethodSettings):
    """Hyper-parameters of LLLA; ``prior_precision`` is what the papers tune on a grid."""

    hessian: HessianStructure = "full"
    prior_precision: float = Field(1.0, gt=0)
    predictive: Literal["nn", "glm", "probit"] = "nn"
    val_samples: int = Field(100, gt=0)
    fit_batch_size: int = Field(256, gt=0)


@torch.no_grad()
def backbone_features(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Penultimate-layer features ``[N, F]`` of ``model`` in eval mode, batched."""
    model.eval()
    return torch.cat(
        [
            model.features(inputs[start : start + EVAL_BATCH_SIZE])
            for start in range(0, len(inputs), EVAL_BATCH_SIZE)
        ]
    )


def fit_head_laplace(
    head: nn.Linear,
    features: torch.Tensor,
    labels: torch.Tensor,
    hessian: HessianStructure,
    batch_size: int = 256,
):
    """laplace-torch's Laplace approximation of ``head`` fitted on cached features."""
    laplace = Laplace(
        copy.deepcopy(head), "classification", subset_of_weights="all", hessian_structure=hessian
    )
    laplace.fit(DataLoader(TensorDataset(features, labels), batch_size=batch_size))
    return laplace


def _laplace_to_tensors(laplace) -> dict[str, Any]:
    """laplace-torch's state_dict in a form ``torch.load(weights_only=True)`` accepts."""
    state = dict(laplace.state_dict())
    hessian = state.pop("H")
    if isinstance(hessian, Kron):
        state["H_kron"] = hessian.kfacs
    else:
        state["H"] = hessian
    state["likelihood"] = str(getattr(state["likelihood"], "value", state["likelihood"]))
    return state


def _laplace_from_tensors(head: nn.Linear, hessian: HessianStructure, state: dict[str, Any]):
    state = dict(state)
    if "H_kron" in state:
        state["H"] = Kron(state.pop("H_kron"))
    laplace = Laplace(head, "classification", subset_of_weights="all", hessian_structure=hessian)
    laplace.load_state_dict(state)
    return laplace


class LLLAPosterior(Posterior):
    """Gaussian posterior over the last layer; predicts by sampling heads over cached features."""

    method: ClassVar[str] = "llla"

    def __init__(
        self,
        model: nn.Module,
        laplace,
        predictive: str,
        base: str,
        prepared: str,
        hessian: HessianStructure,
    ) -> None:
        self.model = model
        self.laplace = laplace
        self.predictive = predictive
        self.base = base
        self.prepared = prepared
        self.hessian = hessian
        self.deterministic = predictive == "probit"

    @property
    def prior_precision(self) -> float:
        """The (scalar) prior precision of the head weights."""
        return float(self.laplace.prior_precision)

    def predict_from_features(
        self, features: torch.Tensor, num_samples: int, generator: torch.Generator
    ) -> torch.Tensor:
        """Per-sample log-probabilities ``[S, N, C]`` from backbone features, one batched matmul."""
        if self.predictive == "probit":
            probs = self.laplace(features, pred_type="glm", link_approx="probit")
            return probs.clamp_min(torch.finfo(probs.dtype).tiny).log()[None]
        if self.predictive == "glm":
            probs = self.laplace.predictive_samples(
                features, pred_type="glm", n_samples=num_samples, generator=generator
            )
            return probs.clamp_min(torch.finfo(probs.dtype).tiny).log()
        head = self.model.head
        weights = self.laplace.sample(num_samples, generator=generator)
        num_weights = head.weight.numel()
        weight = weights[:, :num_weights].reshape(num_samples, *head.weight.shape)
        bias = weights[:, num_weights:]
        logits = torch.einsum("nf,scf->snc", features, weight) + bias[:, None, :]
        return F.log_softmax(logits, dim=-1)

    def predict(self, inputs: torch.Tensor, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        features = backbone_features(self.model, inputs)
        return self.predict_from_features(features, num_samples, generator)

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return (
            {
                "base": self.base,
                "prepared": self.prepared,
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
        posterior.laplace.prior_precision = metadata["prior_precision"]
        return posterior


def prepare_llla(context: TrialContext, settings: LLLASettings, seed: int, folder: Path) -> None:
    """Once per seed: backbone features and the head's Laplace Hessian, saved to ``folder``."""
    device = trial_device()
    data = context.load_data(device)
    base = MAPPosterior.load(context.parent(seed), device)
    train_features = backbone_features(base.model, data.train.inputs)
    laplace = fit_head_laplace(
        base.model.head,
        train_features,
        data.train.labels,
        settings.hessian,
        settings.fit_batch_size,
    )
    write_checkpoint(
        folder,
        {"base": str(context.parent(seed)), "hessian": settings.hessian, "seed": seed},
        {
            "laplace": _laplace_to_tensors(laplace),
            "val_features": backbone_features(base.model, data.val.inputs),
        },
    )


def prepared_posterior(
    prepared: str | Path, predictive: str, device: torch.device | str = "cpu"
) -> tuple[LLLAPosterior, torch.Tensor]:
    """A prepared seed's LLLA posterior (at its fitted prior precision) and validation features."""
    metadata, state = read_checkpoint(prepared, map_location=device)
    base = MAPPosterior.load(metadata["base"], device)
    laplace = _laplace_from_tensors(base.model.head, metadata["hessian"], state["laplace"])
    posterior = LLLAPosterior(
        base.model, laplace, predictive, metadata["base"], str(prepared), metadata["hessian"]
    )
    return posterior, state["val_features"]


def train_llla(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune trainable: one prior precision on a seed's prepared Laplace; validation by sampling."""
    settings = LLLASettings.from_config(config)
    seed = trial_seed(config)
    device = trial_device()
    prepared = context.prepared[seed]
    posterior, val_features = prepared_posterior(prepared, settings.predictive, device)
    posterior.laplace.prior_precision = settings.prior_precision
    data = context.load_data(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    outputs = posterior.predict_from_features(val_features, settings.val_samples, generator)
    report(CLASSIFICATION.validation(outputs, data.val.labels), posterior, final=True)


METHOD = Method(
    name="llla",
    settings=LLLASettings,
    trainable=train_llla,
    posterior=LLLAPosterior,
    checkpoint="last",
    likelihoods=("classification",),
    parents=("map",),
    prepare=prepare_llla,
)
