"""The last-layer posterior family that LLLA and LA-NF share: backbone features, sampled heads turned into
predictives for each likelihood, and ``LastLayerPosterior``, which predicts by sampling whole heads over
cached features.

A method of the family only says how it samples head weights (``sample_heads``): laplace-torch's
Gaussian for LLLA, a normalizing flow for LA-NF. The head model says what a sample is (a whole linear
head, or each regression output's mean weights with the variances kept at the MAP head's) and turns it
into log-probabilities or Gaussian means and variances.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Any, ClassVar, Literal

import torch
from torch import nn
from torch.nn import functional as F

from bdlsweep.trainables.inference.likelihoods import LIKELIHOODS, GaussianRegression
from bdlsweep.trainables.inference.network_weights import EVAL_BATCH_SIZE
from bdlsweep.trainables.posteriors.base import Posterior

RegressionHead = Literal["whole", "means"]


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


def head_logits(weights: torch.Tensor, features: torch.Tensor, head_shape: torch.Size) -> torch.Tensor:
    """Logits ``[S, N, C]`` of linear heads whose flattened weight-then-bias rows are ``weights``."""
    count = math.prod(head_shape)
    weight = weights[:, :count].reshape(len(weights), *head_shape)
    return torch.einsum("nf,scf->snc", features, weight) + weights[:, count:][:, None, :]


def augmented_features(features: torch.Tensor) -> torch.Tensor:
    """Features with a constant 1 appended, so a bias-free linear map carries the bias."""
    return torch.cat(
        [features, torch.ones(len(features), 1, dtype=features.dtype, device=features.device)], 1
    )


def head_variances(head: nn.Linear, features: torch.Tensor) -> torch.Tensor:
    """The MAP network's predicted variances ``[N, D]`` (the head's second half of outputs)."""
    with torch.no_grad():
        return LIKELIHOODS["regression"].predictive(head(features))[:, head.out_features // 2 :]


class ClassificationHead:
    """Samples are whole linear heads; the predictive is their log-softmax."""

    def __init__(self, head: nn.Linear) -> None:
        self.shape = head.weight.shape

    def predict(self, weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Log-probabilities ``[S, N, C]``."""
        return F.log_softmax(head_logits(weights, features, self.shape), dim=-1)

    def log_likelihood(
        self, weights: torch.Tensor, features: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        """Σ over the batch of log p(label | sampled head), per sample."""
        log_probs = self.predict(weights, features)
        return log_probs.gather(-1, labels.expand(len(weights), -1)[..., None]).squeeze(-1).sum(-1)


class RegressionMeanHead:
    """Samples are each output's mean weights with its bias, output after output; the variances stay
    at the MAP head's."""

    def __init__(self, head: nn.Linear) -> None:
        self.head = head

    def _means(self, weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        outputs = self.head.out_features // 2
        rows = weights.reshape(len(weights), outputs, self.head.in_features + 1)
        return torch.einsum("nf,sdf->snd", augmented_features(features), rows)

    def log_likelihood(
        self, weights: torch.Tensor, features: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """Σ over the batch and outputs of log N(y; sampled mean, MAP variance), per sample."""
        variances = head_variances(self.head, features)
        normal = torch.distributions.Normal(self._means(weights, features), variances.sqrt())
        return normal.log_prob(targets).sum((1, 2))

    def predict(self, weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Means then variances, ``[S, N, 2D]``."""
        means = self._means(weights, features)
        return torch.cat([means, head_variances(self.head, features).expand_as(means)], -1)


class RegressionWholeHead:
    """Samples are whole mean-and-variance heads."""

    def __init__(self, head: nn.Linear) -> None:
        self.shape = head.weight.shape

    def predict(self, weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Means then variances, ``[S, N, 2D]``."""
        return LIKELIHOODS["regression"].predictive(head_logits(weights, features, self.shape))

    def log_likelihood(
        self, weights: torch.Tensor, features: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """Σ over the batch and outputs of log N(y; sampled mean, sampled variance), per sample."""
        means, variances = GaussianRegression.split(self.predict(weights, features))
        return torch.distributions.Normal(means, variances.sqrt()).log_prob(targets).sum((1, 2))


HeadModel = ClassificationHead | RegressionMeanHead | RegressionWholeHead


def head_model(model: nn.Module, likelihood: str, regression_head: RegressionHead = "means") -> HeadModel:
    """How sampled head weights become predictions for the network's likelihood."""
    if likelihood == "regression" and regression_head == "whole":
        return RegressionWholeHead(model.head)
    if likelihood == "regression":
        return RegressionMeanHead(model.head)
    return ClassificationHead(model.head)


class LastLayerPosterior(Posterior):
    """A posterior over the network's final linear layer, the backbone fixed at the MAP weights it was
    built on (``base``) and its features cached once per seed in a ``prepared`` folder."""

    references: ClassVar[tuple[str, ...]] = ("base", "prepared")

    def __init__(
        self,
        model: nn.Module,
        base: str,
        prepared: str,
        likelihood: str = "classification",
        regression_head: RegressionHead = "means",
    ) -> None:
        self.model = model
        self.base = base
        self.prepared = prepared
        self.likelihood = likelihood
        self.regression_head = regression_head
        self.head = head_model(model, likelihood, regression_head)

    @abstractmethod
    def sample_heads(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        """``[S, P]`` head weights in the head model's layout, drawn with ``generator``."""

    @torch.no_grad()
    def predict_from_features(
        self, features: torch.Tensor, num_samples: int, generator: torch.Generator
    ) -> torch.Tensor:
        """Per-sample predictives ``[S, N, K]`` from backbone features, one batched matmul."""
        return self.head.predict(self.sample_heads(num_samples, generator), features)

    def predict(self, inputs: torch.Tensor, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        features = backbone_features(self.model, inputs)
        return self.predict_from_features(features, num_samples, generator)

    def family_state(self) -> dict[str, Any]:
        """The metadata every member of the family stores: its base and prepared folders."""
        return {"base": self.base, "prepared": self.prepared}
