"""Likelihoods: how network outputs become a loss, a per-sample predictive, and metrics.

Classification: outputs are logits; the predictive is log-probabilities ``[N, C]``. Gaussian
regression (heteroscedastic): outputs are ``[N, 2D]`` (means, then softplus-transformed
variances); the predictive is the same layout, means then variances, so every posterior returns
one tensor ``[S, N, K]`` whatever the task.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from bdlsweep.metrics import classification, regression, sample_sums
from bdlsweep.metrics.reference_agreement import ReferencePredictive

MIN_VARIANCE = 1e-6


class Likelihood(ABC):
    """One observation model."""

    name: str
    ood_score_name: str

    @abstractmethod
    def num_outputs(self, target_size: int) -> int:
        """Network outputs needed for ``target_size`` classes or target dimensions."""

    @abstractmethod
    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of a batch."""

    @abstractmethod
    def predictive(self, outputs: torch.Tensor) -> torch.Tensor:
        """One sample's predictive from raw network outputs ``[N, K]``."""

    @abstractmethod
    def metrics(self, samples: torch.Tensor, targets) -> dict[str, float]:
        """Every metric of per-sample predictives ``[S, N, K]``."""

    def in_data_units(self, samples: torch.Tensor, targets, scale: float) -> tuple[torch.Tensor, object]:
        """Predictives and targets in the data's own units; classification has none to change."""
        return samples, targets

    @abstractmethod
    def ood_score(self, samples: torch.Tensor) -> np.ndarray:
        """Per-point score, higher meaning more likely out-of-distribution."""

    @abstractmethod
    def ood_score_edges(self, width: int) -> np.ndarray:
        """Fixed histogram bin edges of ``ood_score`` for networks with ``width`` outputs (same for every
        ensemble, so histograms add up across ensembles)."""

    def reliability(self, samples: torch.Tensor, targets) -> dict[str, np.ndarray] | None:
        """A reliability diagram's bins (edges, count, confidence, accuracy), or None where the likelihood
        has no class confidence."""
        return None

    @abstractmethod
    def summarize(self, samples: torch.Tensor, lengths: Sequence[int]) -> list[Any]:
        """What the evaluation reads from the first ``length`` samples of ``[S, N, K]``, for each length:
        a summary that pools exactly with other members' (``pool``) and is scored as the mixture."""

    @abstractmethod
    def pool(self, parts: Sequence[Any]) -> Any:
        """The summary of every part's samples together."""

    @abstractmethod
    def repeat(self, summary: Any, times: int) -> Any:
        """The summary of ``times`` copies of the summarised samples (a deterministic member)."""

    @abstractmethod
    def summary_metrics(self, summary: Any, targets, scale: float) -> dict[str, float]:
        """Every metric of the summarised mixture, in the data's own units."""

    @abstractmethod
    def summary_ood_score(self, summary: Any) -> np.ndarray:
        """``ood_score`` of the summarised mixture."""

    def summary_reliability(self, summary: Any, targets) -> dict[str, np.ndarray] | None:
        """``reliability`` of the summarised mixture."""
        return None

    @abstractmethod
    def summary_predictive(self, summary: Any) -> dict[str, np.ndarray]:
        """The summarised mixture's predictive as a reference posterior's is given: class probabilities
        ``probs`` ``[N, C]``, or its moment-matched Gaussian's ``mean`` and ``var`` ``[N, D]`` (of the
        targets as stored, standardised)."""

    def reference_closeness(
        self, summary: Any, reference: ReferencePredictive, scale: float
    ) -> dict[str, float]:
        """How close the summarised mixture comes to a reference posterior's predictive."""
        return reference.closeness(self.summary_predictive(summary))

    def summary_state(self, summary: Any) -> Any:
        """A summary as tensors, to store; ``summary_from_state`` reads it back."""
        return summary

    def summary_from_state(self, state: Any) -> Any:
        return state

    @abstractmethod
    def validation(self, samples: torch.Tensor, targets, prefix: str = "val") -> dict[str, float]:
        """The metrics reported to Tune: ``{prefix}_elpd`` (the selection metric) and a few more."""


class Classification(Likelihood):
    """Categorical likelihood on logits."""

    name = "classification"

    def num_outputs(self, target_size: int) -> int:
        return target_size

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs, targets)

    def predictive(self, outputs: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(outputs, dim=-1)

    def metrics(self, samples: torch.Tensor, targets) -> dict[str, float]:
        return classification.classification_metrics(samples, _numpy(targets))

    def validation(self, samples: torch.Tensor, targets, prefix: str = "val") -> dict[str, float]:
        targets = _numpy(targets)
        return {
            f"{prefix}_elpd": classification.lpd(samples, targets),
            f"{prefix}_acc": classification.accuracy(samples, targets),
            f"{prefix}_nll": classification.nll(samples, targets),
        }

    def ood_score(self, samples: torch.Tensor) -> np.ndarray:
        return classification.predictive_entropy_per_point(samples)

    ood_score_name = "predictive entropy (nats)"

    def ood_score_edges(self, width: int) -> np.ndarray:
        """30 equal bins from 0 to the largest possible entropy, log(classes)."""
        return np.linspace(0.0, np.log(width), 31)

    def reliability(self, samples: torch.Tensor, targets) -> dict[str, np.ndarray] | None:
        return classification.reliability_bins(samples, _numpy(targets))

    def summarize(self, samples: torch.Tensor, lengths: Sequence[int]) -> list[sample_sums.SampleSums]:
        """Sums over the samples (float64): log of summed probabilities, entropies, argmax votes."""
        return sample_sums.prefix_sums(samples, lengths)

    def pool(self, parts: Sequence[sample_sums.SampleSums]) -> sample_sums.SampleSums:
        return sample_sums.pooled(parts)

    def repeat(self, summary: sample_sums.SampleSums, times: int) -> sample_sums.SampleSums:
        return summary.repeated(times)

    def summary_metrics(self, summary: sample_sums.SampleSums, targets, scale: float) -> dict[str, float]:
        return sample_sums.classification_metrics(summary, _numpy(targets))

    def summary_ood_score(self, summary: sample_sums.SampleSums) -> np.ndarray:
        return classification.predictive_entropy_per_point(summary.mixture())

    def summary_reliability(self, summary: sample_sums.SampleSums, targets) -> dict[str, np.ndarray]:
        return classification.reliability_bins(summary.mixture(), _numpy(targets))

    def summary_predictive(self, summary: sample_sums.SampleSums) -> dict[str, np.ndarray]:
        return {"probs": np.exp(summary.mixture()[0])}

    def summary_state(self, summary: sample_sums.SampleSums) -> dict[str, torch.Tensor]:
        return summary.state()

    def summary_from_state(self, state: dict[str, torch.Tensor]) -> sample_sums.SampleSums:
        return sample_sums.SampleSums.from_state(state)


class GaussianRegression(Likelihood):
    """Heteroscedastic Gaussian likelihood: the network predicts a mean and a variance per target."""

    name = "regression"

    def num_outputs(self, target_size: int) -> int:
        return 2 * target_size

    def in_data_units(self, samples: torch.Tensor, targets, scale: float) -> tuple[torch.Tensor, object]:
        """Means, variances and targets multiplied back by the standardisation scale (and scale²)."""
        if scale == 1.0:
            return samples, targets
        means, variances = self.split(samples)
        return torch.cat([means * scale, variances * scale**2], dim=-1), _numpy(targets) * scale

    @staticmethod
    def split(outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Means and variances of a predictive laid out as ``[..., 2D]``."""
        half = outputs.shape[-1] // 2
        return outputs[..., :half], outputs[..., half:]

    def _mean_variance(self, outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, raw = self.split(outputs)
        return mean, F.softplus(raw) + MIN_VARIANCE

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        mean, variance = self._mean_variance(outputs)
        return F.gaussian_nll_loss(mean, targets, variance, full=True, reduction="mean") * mean.shape[-1]

    def predictive(self, outputs: torch.Tensor) -> torch.Tensor:
        return torch.cat(self._mean_variance(outputs), dim=-1)

    def metrics(self, samples: torch.Tensor, targets) -> dict[str, float]:
        means, variances = self.split(samples)
        return regression.regression_metrics(means, variances, _numpy(targets))

    def validation(self, samples: torch.Tensor, targets, prefix: str = "val") -> dict[str, float]:
        means, variances = self.split(samples)
        targets = _numpy(targets)
        return {
            f"{prefix}_elpd": regression.lpd(means, variances, targets),
            f"{prefix}_rmse": regression.rmse(means, variances, targets),
            f"{prefix}_nll": regression.nll(means, variances, targets),
        }

    def ood_score(self, samples: torch.Tensor) -> np.ndarray:
        return regression.total_variance_per_point(*self.split(samples))

    ood_score_name = "total predictive variance (standardised)"

    def summarize(self, samples: torch.Tensor, lengths: Sequence[int]) -> list[torch.Tensor]:
        """The samples themselves (the mixture's CRPS reads pairs of components)."""
        return [samples[:length] for length in lengths]

    def pool(self, parts: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat(list(parts))

    def repeat(self, summary: torch.Tensor, times: int) -> torch.Tensor:
        return summary.repeat(times, *[1] * (summary.dim() - 1))

    def summary_metrics(self, summary: torch.Tensor, targets, scale: float) -> dict[str, float]:
        return self.metrics(*self.in_data_units(summary, targets, scale))

    def summary_ood_score(self, summary: torch.Tensor) -> np.ndarray:
        return self.ood_score(summary)

    def summary_predictive(self, summary: torch.Tensor) -> dict[str, np.ndarray]:
        mean, variance = regression.predictive_moments(*self.split(summary))
        return {"mean": mean, "var": variance}

    def reference_closeness(
        self, summary: Any, reference: ReferencePredictive, scale: float
    ) -> dict[str, float]:
        """The 2-Wasserstein distance in the data's units: scaling both Gaussians scales it alike."""
        closeness = reference.closeness(self.summary_predictive(summary))
        return {name: value * scale for name, value in closeness.items()}

    def ood_score_edges(self, width: int) -> np.ndarray:
        """36 log-spaced bins from 1e-3 to 1e3 (the variance of standardised targets is near 1)."""
        return np.geomspace(1e-3, 1e3, 37)


def _numpy(targets) -> np.ndarray:
    if hasattr(targets, "detach"):
        return targets.detach().cpu().numpy()
    return np.asarray(targets)


LIKELIHOODS: dict[str, Likelihood] = {"classification": Classification(), "regression": GaussianRegression()}
