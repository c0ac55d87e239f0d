"""How close an approximate predictive comes to a reference posterior's predictive (e.g. long full-batch
HMC): top-1 agreement and total variation for classification, the 2-Wasserstein distance between
moment-matched Gaussian predictives for regression. Each is a mean over the test points.

References:
    Izmailov, Vikram, Hoffman & Wilson (2021), "What Are Bayesian Neural Network Posteriors Really
    Like?", ICML (agreement and total variation with the HMC predictive).
    Wilson et al. (2022), "Evaluating Approximate Inference in Bayesian Deep Learning", NeurIPS 2021
    Competition Track, PMLR 176 (the same two scores against published HMC predictions).
    Givens & Shortt (1984), "A Class of Wasserstein Metrics for Probability Distributions", Michigan
    Mathematical Journal (the closed form between Gaussians).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from bdlsweep.metrics.classification import averaged_log_probs
from bdlsweep.metrics.regression import predictive_moments


def _probabilities(probs: ArrayLike, reference: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    probs, reference = np.asarray(probs, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if probs.ndim != 2 or probs.shape != reference.shape:
        raise ValueError(
            f"predictive probabilities {probs.shape} and reference {reference.shape} must be [N, C]"
        )
    return probs, reference


def agreement(probs: ArrayLike, reference: ArrayLike) -> float:
    """Share of points whose most probable class under ``probs`` ``[N, C]`` is the reference's (ties go to
    the lower class index, in both)."""
    probs, reference = _probabilities(probs, reference)
    return float(np.mean(probs.argmax(axis=1) == reference.argmax(axis=1)))


def total_variation(probs: ArrayLike, reference: ArrayLike) -> float:
    """Mean over points of the total variation distance ½ Σ_c |p_c − p_ref,c| (0: equal, 1: disjoint)."""
    probs, reference = _probabilities(probs, reference)
    return float(np.mean(0.5 * np.abs(probs - reference).sum(axis=1)))


def gaussian_wasserstein2(
    means: ArrayLike, variances: ArrayLike, reference_means: ArrayLike, reference_variances: ArrayLike
) -> float:
    """Mean over points of the 2-Wasserstein distance between N(m, diag v) and N(m_ref, diag v_ref), each
    ``[N, D]``: sqrt(Σ_d (m_d − m_ref,d)² + (√v_d − √v_ref,d)²)."""
    arrays = [
        np.asarray(a, dtype=np.float64) for a in (means, variances, reference_means, reference_variances)
    ]
    if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 2:
        raise ValueError(f"means and variances must all be [N, D], got {[a.shape for a in arrays]}")
    mean, variance, reference_mean, reference_variance = arrays
    squared = (mean - reference_mean) ** 2 + (np.sqrt(variance) - np.sqrt(reference_variance)) ** 2
    return float(np.mean(np.sqrt(squared.sum(axis=1))))


def classification_closeness(log_probs: ArrayLike, reference: ArrayLike) -> dict[str, float]:
    """Agreement and total variation of the sample-averaged predictive of ``log_probs`` ``[S, N, C]``
    with the reference predictive probabilities ``[N, C]``."""
    probs = np.exp(averaged_log_probs(log_probs))
    return {"agreement": agreement(probs, reference), "total_variation": total_variation(probs, reference)}


def regression_closeness(
    means: ArrayLike, variances: ArrayLike, reference_means: ArrayLike, reference_variances: ArrayLike
) -> dict[str, float]:
    """The 2-Wasserstein distance of the moment-matched Gaussian of the mixture of per-sample Gaussians
    ``[S, N, D]`` to the reference's Gaussian predictive ``[N, D]``."""
    mean, variance = predictive_moments(means, variances)
    return {"wasserstein2": gaussian_wasserstein2(mean, variance, reference_means, reference_variances)}


def predictive_closeness(
    predictive: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray]
) -> dict[str, float]:
    """How close one predictive is to another, each ``probs`` ``[N, C]`` (agreement, total variation) or
    Gaussian ``mean`` and ``var`` ``[N, D]`` (2-Wasserstein distance)."""
    if "probs" in reference:
        probs = predictive["probs"]
        return {
            "agreement": agreement(probs, reference["probs"]),
            "total_variation": total_variation(probs, reference["probs"]),
        }
    distance = gaussian_wasserstein2(
        predictive["mean"], predictive["var"], reference["mean"], reference["var"]
    )
    return {"wasserstein2": distance}


@dataclass(frozen=True)
class ReferencePredictive:
    """A reference posterior's predictive on a test set (``probs`` ``[N, C]``, or ``mean`` and ``var``
    ``[N, D]`` in the data's units) over the test points ``indices`` (None: every point, in order)."""

    name: str
    arrays: dict[str, np.ndarray]
    indices: np.ndarray | None = None

    def closeness(self, predictive: Mapping[str, np.ndarray]) -> dict[str, float]:
        """``predictive_closeness`` of a predictive over the whole test set, on the points this covers."""
        if self.indices is not None:
            predictive = {key: value[self.indices] for key, value in predictive.items()}
        return predictive_closeness(predictive, self.arrays)
