"""LA-NF (posterior-refined LLLA): a normalizing flow on the last layer, based on the LLLA Gaussian.

Starting from a seed's selected LLLA, the head weights' posterior is a flow (nflows transforms)
whose base distribution is the LLLA Gaussian; the flow is trained by maximising the ELBO
(expected log-likelihood on cached training features + log prior − log q), one Monte Carlo sample
per batch, Adam with per-batch cosine annealing (seed paper: 20 epochs, lr 1e-3).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from bdlsweep.trainables.inference.flows import FlowKind, GaussianBaseMap, GaussianFlow
from bdlsweep.trainables.inference.likelihoods import LIKELIHOODS, GaussianRegression
from bdlsweep.trainables.method import Method, TrainingPasses, epochs
from bdlsweep.trainables.posteriors.base import Posterior
from bdlsweep.trainables.posteriors.checkpoint import read_checkpoint, read_metadata, write_checkpoint
from bdlsweep.trainables.posteriors.last_layer import (
    LLLAPosterior,
    RegressionHead,
    augmented_features,
    backbone_features,
    head_logits,
    head_variances,
)
from bdlsweep.trainables.posteriors.single_network import FixedWeightsPosterior
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.reporting import report, trial_seed
from bdlsweep.trainables.runtime.training import batches, trial_device
from bdlsweep.trainables.settings import MethodSettings

LogLikelihood = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class LANFSettings(MethodSettings):
    """Hyper-parameters of LA-NF; the papers tune ``num_transforms`` and ``prior_precision``."""

    flow: FlowKind = "radial"
    num_transforms: int = Field(10, ge=0)
    prior_precision: float = Field(1.0, gt=0)
    base: Literal["full", "diag"] = "full"
    epochs: int = Field(20, gt=0)
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(128, gt=0)
    hidden_features: int = Field(32, gt=0)
    val_samples: int = Field(100, gt=0)


def gaussian_log_prior(weights: torch.Tensor, precision: float) -> torch.Tensor:
    """log N(θ; 0, I/precision) for each row of ``weights`` ``[S, D]``."""
    dim = weights.shape[-1]
    return -0.5 * precision * (weights**2).sum(-1) + 0.5 * dim * math.log(precision / (2 * math.pi))


def fit_elbo(
    flow: GaussianFlow,
    log_likelihood: LogLikelihood,
    data: Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]],
    num_data: int,
    prior_precision: float,
    epochs: int,
    lr: float,
    generator: torch.Generator,
) -> list[float]:
    """Maximise the ELBO of ``flow`` with one sample per batch; returns the mean −ELBO per epoch.

    ``log_likelihood(θ [S, D], inputs, labels)`` sums the batch's log-likelihoods per sample;
    it is scaled by ``num_data / batch size``. Adam with cosine annealing stepped per batch.
    """
    steps_per_epoch = sum(1 for _ in data())
    optimizer = torch.optim.Adam(flow.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    history = []
    for _ in range(epochs):
        total = 0.0
        for inputs, labels in data():
            weights, log_q = flow.sample(1, generator)
            scale = num_data / len(labels)
            elbo = scale * log_likelihood(weights, inputs, labels)
            elbo = elbo + gaussian_log_prior(weights, prior_precision) - log_q
            loss = -elbo.mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach())
        history.append(total / steps_per_epoch)
    return history


def head_log_likelihood(head_shape: torch.Size) -> LogLikelihood:
    """Categorical log-likelihood of a linear head on cached features, summed over the batch."""

    def log_likelihood(weights, features, labels):
        log_probs = F.log_softmax(head_logits(weights, features, head_shape), dim=-1)
        return log_probs.gather(-1, labels.expand(len(weights), -1)[..., None]).squeeze(-1).sum(-1)

    return log_likelihood


class ClassificationHead:
    """Flow samples are whole linear heads; the predictive is their log-softmax."""

    def __init__(self, head: nn.Linear) -> None:
        self.shape = head.weight.shape
        self.log_likelihood = head_log_likelihood(self.shape)

    def predict(self, weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Log-probabilities ``[S, N, C]``."""
        return F.log_softmax(head_logits(weights, features, self.shape), dim=-1)


class RegressionMeanHead:
    """Flow samples are each output's mean weights (with bias); variances stay at the MAP head's."""

    def __init__(self, head: nn.Linear) -> None:
        self.head = head

    def _means(self, weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        outputs = self.head.out_features // 2
        rows = weights.reshape(len(weights), outputs, self.head.in_features + 1)
        return torch.einsum("nf,sdf->snd", augmented_features(features), rows)

    def log_likelihood(self, weights, features, targets):
        """Σ over the batch and outputs of log N(y; sampled mean, MAP variance), per sample."""
        variances = head_variances(self.head, features)
        normal = torch.distributions.Normal(self._means(weights, features), variances.sqrt())
        return normal.log_prob(targets).sum((1, 2))

    def predict(self, weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Means then variances, ``[S, N, 2D]``."""
        means = self._means(weights, features)
        return torch.cat([means, head_variances(self.head, features).expand_as(means)], -1)


class RegressionWholeHead:
    """Flow samples are whole mean-and-variance heads (``regression_head: whole`` LLLA bases)."""

    def __init__(self, head: nn.Linear) -> None:
        self.shape = head.weight.shape

    def predict(self, weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Means then variances, ``[S, N, 2D]``."""
        return LIKELIHOODS["regression"].predictive(head_logits(weights, features, self.shape))

    def log_likelihood(self, weights, features, targets):
        """Σ over the batch and outputs of log N(y; sampled mean, sampled variance), per sample."""
        means, variances = GaussianRegression.split(self.predict(weights, features))
        return torch.distributions.Normal(means, variances.sqrt()).log_prob(targets).sum((1, 2))


FlowHead = ClassificationHead | RegressionMeanHead | RegressionWholeHead


def head_model(model: nn.Module, likelihood: str, regression_head: RegressionHead = "means") -> FlowHead:
    """How flow samples become predictions for the network's likelihood (and the LLLA base's head)."""
    if likelihood == "regression" and regression_head == "whole":
        return RegressionWholeHead(model.head)
    if likelihood == "regression":
        return RegressionMeanHead(model.head)
    return ClassificationHead(model.head)


class LANFPosterior(Posterior):
    """Flow posterior over the last layer; predicts by sampling heads over backbone features."""

    method: ClassVar[str] = "laplace_nf"
    references: ClassVar[tuple[str, ...]] = ("base", "prepared")

    def __init__(
        self,
        model: nn.Module,
        flow: GaussianFlow,
        settings: LANFSettings,
        base: str,
        prepared: str,
        likelihood: str = "classification",
        regression_head: RegressionHead = "means",
    ) -> None:
        self.model = model
        self.head = head_model(model, likelihood, regression_head)
        self.likelihood = likelihood
        self.regression_head = regression_head
        self.flow = flow
        self.settings = settings
        self.base = base
        self.prepared = prepared

    @torch.no_grad()
    def predict_from_features(
        self, features: torch.Tensor, num_samples: int, generator: torch.Generator
    ) -> torch.Tensor:
        """Per-sample predictives ``[S, N, K]`` from backbone features."""
        weights, _ = self.flow.sample(num_samples, generator)
        return self.head.predict(weights, features)

    def predict(self, inputs: torch.Tensor, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        features = backbone_features(self.model, inputs)
        return self.predict_from_features(features, num_samples, generator)

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        layers = {name: value.detach() for name, value in self.flow.named_parameters()}
        metadata = {"base": self.base, "prepared": self.prepared, "settings": self.settings.model_dump()}
        return metadata, {"layers": layers}

    @classmethod
    def from_state(
        cls,
        metadata: dict[str, Any],
        state: dict[str, Any],
        device: torch.device,
        train_inputs: torch.Tensor | None,
    ) -> LANFPosterior:
        settings = LANFSettings.model_validate(metadata["settings"])
        prepared = read_checkpoint(metadata["prepared"], map_location=device)[1]
        flow = _flow(settings, prepared).to(device)
        missing = flow.load_state_dict(state["layers"], strict=False)
        if missing.unexpected_keys or set(missing.missing_keys) & set(dict(flow.named_parameters())):
            raise ValueError(f"{metadata['prepared']}: flow layers do not match the checkpoint")
        model = FixedWeightsPosterior.load(metadata["base"], device).model
        prepared_metadata = read_metadata(metadata["prepared"])
        return cls(
            model,
            flow,
            settings,
            metadata["base"],
            metadata["prepared"],
            prepared_metadata["likelihood"],
            prepared_metadata.get("regression_head", "means"),  # folders prepared before it was a choice
        )


def _flow(settings: LANFSettings, prepared: dict[str, Any]) -> GaussianFlow:
    scale = prepared["scale_tril"]
    if settings.base == "diag":
        scale = scale.pow(2).sum(1).sqrt()
    base = GaussianBaseMap(prepared["mean"], scale)
    return GaussianFlow(settings.flow, settings.num_transforms, base, settings.hidden_features)


def _laplace_gaussian(laplace) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and lower-triangular covariance factor of a laplace-torch Gaussian (full, diag, kron)."""
    if hasattr(laplace, "posterior_covariance"):
        covariance = laplace.posterior_covariance
    elif hasattr(laplace, "posterior_variance"):
        return laplace.mean, torch.diag(laplace.posterior_variance.sqrt())
    else:
        covariance = torch.linalg.inv(laplace.posterior_precision.to_matrix())
    covariance = (covariance + covariance.T) / 2
    return laplace.mean, torch.linalg.cholesky(covariance)


def prepare_laplace_nf(context: TrialContext, settings: LANFSettings, seed: int, folder: str) -> None:
    """Once per seed: the selected LLLA's Gaussian and the cached train/val backbone features."""
    device = trial_device()
    llla = LLLAPosterior.load(context.parent(seed), device)
    data = context.load_data(device)
    means, scales = zip(*(_laplace_gaussian(laplace) for laplace in llla.laplaces), strict=True)
    mean, scale_tril = torch.cat(means), torch.block_diag(*scales)
    write_checkpoint(
        folder,
        {
            "base": llla.base,
            "llla": str(context.parent(seed)),
            "likelihood": llla.likelihood,
            "regression_head": llla.regression_head,
            "seed": seed,
        },
        {
            "mean": mean.detach(),
            "scale_tril": scale_tril.detach(),
            "train_features": backbone_features(llla.model, data.train.inputs),
            "val_features": backbone_features(llla.model, data.val.inputs),
        },
        references=("base", "llla"),
    )


def train_laplace_nf(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune trainable: fit the flow for one (layer count, prior precision); validate by sampling."""
    settings = LANFSettings.from_config(config)
    seed = trial_seed(config)
    device = trial_device()
    torch.manual_seed(seed)
    folder = context.prepared[seed]
    metadata, prepared = read_checkpoint(folder, map_location=device)
    data = context.load_data(device)
    model = FixedWeightsPosterior.load(metadata["base"], device).model
    flow = _flow(settings, prepared).to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    order = torch.Generator().manual_seed(seed)
    features, labels = prepared["train_features"], data.train.labels
    regression_head = metadata.get("regression_head", "means")
    head = head_model(model, metadata["likelihood"], regression_head)
    history = fit_elbo(
        flow,
        head.log_likelihood,
        lambda: batches(features, labels, settings.batch_size, order),
        len(labels),
        settings.prior_precision,
        settings.epochs,
        settings.lr,
        generator,
    )
    posterior = LANFPosterior(
        model, flow, settings, metadata["base"], folder, metadata["likelihood"], regression_head
    )
    outputs = posterior.predict_from_features(
        prepared["val_features"], settings.val_samples, generator.manual_seed(seed)
    )
    metrics = {"neg_elbo": history[-1], **LIKELIHOODS[data.likelihood].validation(outputs, data.val.labels)}
    report(metrics, posterior, final=True, parent=context.parent_scores.get(seed))


METHOD = Method(
    name="laplace_nf",
    settings=LANFSettings,
    trainable=train_laplace_nf,
    posterior=LANFPosterior,
    checkpoint="last",
    prepare=prepare_laplace_nf,
    passes=TrainingPasses(
        epochs,
        per_seed=1.0,
        rule="one pass per seed (features); epochs over the cached last-layer features",
    ),
    parents=("llla",),
    tiny={"num_transforms": 1, "epochs": 2, "val_samples": 3},
)
