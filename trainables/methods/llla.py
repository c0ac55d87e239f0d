"""Last-layer Laplace (LLLA) with laplace-torch: once per seed, the head's Laplace fitted on cached backbone
features (``posteriors/head_laplace.py``); each grid trial only sets the prior precision and samples heads."""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from pydantic import Field

from bdlsweep.trainables.inference.likelihoods import LIKELIHOODS
from bdlsweep.trainables.method import Method, TrainingPasses, count_no_passes
from bdlsweep.trainables.posteriors.checkpoint import write_checkpoint
from bdlsweep.trainables.posteriors.head_laplace import (
    HessianStructure,
    LLLAPosterior,
    fit_head_laplace,
    fit_mean_head_laplaces,
    fit_whole_head_laplace,
    is_gaussian,
    laplace_to_tensors,
    prepared_posterior,
)
from bdlsweep.trainables.posteriors.last_layer import RegressionHead, backbone_features
from bdlsweep.trainables.posteriors.single_network import FixedWeightsPosterior
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.reporting import DIVERGED_BECAUSE, SELECTION_METRIC
from bdlsweep.trainables.runtime.training import trial_device
from bdlsweep.trainables.runtime.trial_loop import IterativeFit, TrialStart, run_fit, start_trial
from bdlsweep.trainables.settings import MethodSettings


class LLLASettings(MethodSettings):
    """Hyper-parameters of LLLA; ``prior_precision`` is what the papers tune on a grid.

    ``prior_precision_method: marglik`` instead fits one scalar prior precision per seed by
    maximising laplace-torch's Laplace marginal likelihood (``optimize_prior_precision``); the
    trial then ignores ``prior_precision`` and reports the fitted value.

    ``regression_head`` (heteroscedastic regression only): ``whole`` is one Laplace over every weight
    of the last layer, means and variances, with the exact Hessian of the Gaussian NLL (Jordahn et al. (2025),
    QM9: all 130 weights; ``full`` or ``diag``); ``means`` is one Laplace per output over its mean
    weights with the variances fixed at MAP, a linear-Gaussian model (any Hessian structure).
    """

    hessian: HessianStructure = "full"
    """Structure of the last layer's Hessian: full, diagonal or Kronecker-factored."""
    regression_head: RegressionHead = "whole"
    """Regression only: one Laplace over every head weight (whole) or one per output over its mean weights
    (means)."""
    prior_precision: float = Field(1.0, gt=0)
    """Precision of the Gaussian prior on the head weights (the papers tune it)."""
    prior_precision_method: Literal["grid", "marglik"] = "grid"
    """Take prior_precision from the grid, or fit it per seed by the Laplace marginal likelihood."""
    predictive: Literal["nn", "glm", "probit"] = "nn"
    """Predictive: sampled heads (nn), the linearised model (glm) or the probit approximation."""
    val_samples: int = Field(100, gt=0)
    """Head samples per validation."""
    fit_batch_size: int = Field(256, gt=0)
    """Batch size of the Hessian's pass over the cached features."""

    def likelihood_problem(self, likelihood: str) -> tuple[str, str] | None:
        """The whole regression head's exact Hessian has no Kronecker form."""
        if likelihood == "regression" and self.regression_head == "whole" and self.hessian == "kron":
            return (
                "hessian",
                "kron is not exact for regression_head: whole; use full or diag (or regression_head: means)",
            )
        return None


def prepare_llla(context: TrialContext, settings: LLLASettings, seed: int, folder: str) -> None:
    """Once per seed: backbone features and the head's Laplace Hessian, saved to ``folder`` (path or URI)."""
    device = trial_device()
    data = context.load_data(device)
    base = FixedWeightsPosterior.load(context.parent(seed), device)
    train_features = backbone_features(base.model, data.train.inputs)
    head, labels = base.model.head, data.train.labels
    if data.likelihood == "regression" and settings.regression_head == "whole":
        laplaces = [
            fit_whole_head_laplace(head, train_features, labels, settings.hessian, settings.fit_batch_size)
        ]
    elif data.likelihood == "regression":
        laplaces = fit_mean_head_laplaces(
            head, train_features, labels, settings.hessian, settings.fit_batch_size
        )
    else:
        laplaces = [fit_head_laplace(head, train_features, labels, settings.hessian, settings.fit_batch_size)]
    write_checkpoint(
        folder,
        {
            "base": str(context.parent(seed)),
            "hessian": settings.hessian,
            "likelihood": data.likelihood,
            "regression_head": settings.regression_head,
            "seed": seed,
        },
        {
            "laplaces": [laplace_to_tensors(laplace) for laplace in laplaces],
            "val_features": backbone_features(base.model, data.val.inputs),
        },
        references=("base",),
    )


def marginal_likelihood_prior_precision(laplaces: list) -> float:
    """The scalar prior precision maximising the summed Laplace log marginal likelihood of ``laplaces``.

    With one Laplace (classification) this is laplace-torch's ``optimize_prior_precision(method="marglik",
    prior_structure="scalar")``; regression heads (one Laplace per output) share one value, fitted on the
    sum of their log marginal likelihoods with the same Adam-on-log-precision procedure.
    """
    if len(laplaces) == 1:
        laplaces[0].optimize_prior_precision(
            pred_type="nn", method="marglik", prior_structure="scalar", link_approx="mc"
        )
        return float(laplaces[0].prior_precision)
    log_precision = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.Adam([log_precision], lr=0.1)
    for _ in range(100):
        optimizer.zero_grad()
        loss = -sum(
            laplace.log_marginal_likelihood(prior_precision=log_precision.exp()) for laplace in laplaces
        )
        loss.backward()
        optimizer.step()
    return float(log_precision.detach().exp())


class LLLAFit(IterativeFit):
    """One step: the seed's prepared Laplace at this trial's prior precision (or the one its marginal
    likelihood picks), validated by sampling heads over the cached validation features."""

    steps = 1
    unit = "fit"

    def __init__(self, start: TrialStart, context: TrialContext) -> None:
        self.start, self.context = start, context

    def step(self, index: int) -> tuple[dict[str, Any], LLLAPosterior | None]:
        settings, seed, device = self.start.settings, self.start.seed, self.start.device
        posterior, val_features = prepared_posterior(self.context.prepared[seed], settings.predictive, device)
        if settings.prior_precision_method == "marglik":
            posterior.prior_precision = marginal_likelihood_prior_precision(posterior.laplaces)
        else:
            posterior.prior_precision = settings.prior_precision
        fitted = {"fitted_prior_precision": posterior.prior_precision}
        if not all(is_gaussian(laplace) for laplace in posterior.laplaces):  # the stage says so per seed
            reason = "Hessian + prior precision not positive definite"
            return {SELECTION_METRIC: math.nan, DIVERGED_BECAUSE: reason, **fitted}, None
        data = self.context.load_data(device)
        generator = torch.Generator(device=device).manual_seed(seed)
        outputs = posterior.predict_from_features(val_features, settings.val_samples, generator)
        return {**LIKELIHOODS[data.likelihood].validation(outputs, data.val.labels), **fitted}, posterior

    def state_dict(self) -> dict[str, Any]:
        return {}  # one step: nothing to continue

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


def train_llla(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune trainable: one prior precision on a seed's prepared Laplace; validation by sampling."""
    start = start_trial(config, LLLASettings)
    run_fit(LLLAFit(start, context), start, context)


METHOD = Method(
    name="llla",
    display_name="LLLA",
    hint="widen the prior-precision grid",
    settings=LLLASettings,
    trainable=train_llla,
    posterior=LLLAPosterior,
    checkpoint="last",
    parents=("map",),
    prepare=prepare_llla,
    passes=TrainingPasses(
        count_no_passes,
        per_seed=1.0,
        rule="one pass per seed (features and Hessian); trials only validate",
    ),
    # a 2-epoch MAP is far from a minimum: its exact Gaussian-NLL Hessian needs a prior precision of ~10
    tiny={"hessian": "full", "val_samples": 3, "prior_precision": 10.0},
    probe={},
    paper=(
        'Daxberger, Kristiadi, Immer, Eschenhagen, Bauer & Hennig (2021), "Laplace Redux: Effortless '
        'Bayesian Deep Learning", NeurIPS (laplace-torch); as used by Jordahn, Jensen, Schmidt & Andersen'
        ' (2025), "On Local Posterior Structure in Deep Ensembles", AISTATS'
    ),
)
