"""Sums over posterior samples of what every classification metric reads, so that an ensemble's
metrics come exactly from its members' partial sums without keeping their ``[S, N, C]`` outputs.

A mixture of samples is scored through its averaged predictive (accuracy, ELPD, Brier, calibration,
selective risk, predictive entropy), the mean of the samples' entropies (mutual information) and the
share of samples that vote for each class (disagreement). Each is a sum over samples divided by
their count, so the sums of several members add up to the sums of their pooled samples.

References:
    Lakshminarayanan et al., "Simple and Scalable Predictive Uncertainty Estimation using Deep
    Ensembles", NeurIPS 2017 (the ensemble as a uniform mixture of its members' predictives).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike

from bdlsweep.metrics import classification


@dataclass(frozen=True)
class SampleSums:
    """``count`` samples' log of summed class probabilities ``[N, C]``, summed entropies ``[N]`` and
    per-class argmax votes ``[N, C]``."""

    count: int
    log_prob_sum: np.ndarray
    entropy_sum: np.ndarray
    votes: np.ndarray

    @classmethod
    def of(cls, log_probs: ArrayLike) -> SampleSums:
        """The sums of per-sample log-probabilities ``[S, N, C]``."""
        return prefix_sums(torch.as_tensor(np.asarray(log_probs)), [len(log_probs)])[0]

    def repeated(self, times: int) -> SampleSums:
        """The sums of ``times`` copies of these samples (a deterministic member drawn ``times`` times)."""
        return SampleSums(
            self.count * times,
            self.log_prob_sum + np.log(times),
            self.entropy_sum * times,
            self.votes * times,
        )

    def __add__(self, other: SampleSums) -> SampleSums:
        return SampleSums(
            self.count + other.count,
            np.logaddexp(self.log_prob_sum, other.log_prob_sum),
            self.entropy_sum + other.entropy_sum,
            self.votes + other.votes,
        )

    def state(self) -> dict[str, torch.Tensor]:
        """These sums as tensors (what ``torch.load(weights_only=True)`` reads back)."""
        return {
            "count": torch.tensor(self.count),
            "log_prob_sum": torch.from_numpy(self.log_prob_sum),
            "entropy_sum": torch.from_numpy(self.entropy_sum),
            "votes": torch.from_numpy(self.votes),
        }

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> SampleSums:
        return cls(
            int(state["count"]),
            state["log_prob_sum"].numpy(),
            state["entropy_sum"].numpy(),
            state["votes"].numpy(),
        )

    def mixture(self) -> np.ndarray:
        """log of the sample-averaged predictive as a one-sample ``[1, N, C]`` array, which every
        per-sample metric function reads as the mixture itself."""
        return (self.log_prob_sum - np.log(self.count))[None]


def pooled(parts: Iterable[SampleSums]) -> SampleSums:
    """The sums of every part's samples together."""
    parts = iter(parts)
    total = next(parts)
    for part in parts:
        total = total + part
    return total


def prefix_sums(log_probs: torch.Tensor, lengths: Sequence[int]) -> list[SampleSums]:
    """The sums of the first ``length`` samples of ``log_probs`` ``[S, N, C]`` for each length, in one
    pass over the samples (float64)."""
    log_probs = log_probs.detach().to("cpu", torch.float64)
    rows = torch.as_tensor([length - 1 for length in lengths], dtype=torch.long)
    log_sums = torch.logcumsumexp(log_probs, dim=0)[rows]
    entropies = -(log_probs.exp() * log_probs).nan_to_num().sum(-1).cumsum(0)[rows]
    winners = torch.nn.functional.one_hot(log_probs.argmax(-1), log_probs.shape[-1]).cumsum(0)[rows]
    return [
        SampleSums(length, log_sums[i].numpy(), entropies[i].numpy(), winners[i].numpy())
        for i, length in enumerate(lengths)
    ]


def classification_metrics(sums: SampleSums, labels: ArrayLike, num_bins: int = classification.NUM_BINS):
    """Every per-split classification metric of the pooled samples (as
    ``classification.classification_metrics`` on the samples themselves)."""
    mixture = sums.mixture()
    values = classification.classification_metrics(mixture, labels, num_bins)
    predictive = classification.predictive_entropy_per_point(mixture)
    values["mutual_information"] = float(np.mean(predictive - sums.entropy_sum / sums.count))
    consensus = mixture[0].argmax(axis=1)
    agreeing = sums.votes[np.arange(len(consensus)), consensus] / sums.count
    values["disagreement"] = float(np.mean(1.0 - agreeing))
    return values
