"""Regression metrics on per-sample Gaussian outputs: means and variances ``[S, N, D]``.

The predictive is the equally weighted mixture of the S Gaussians N(μ_s, σ²_s) (independent over
output dimensions D). Scalar summaries use its mean m = mean_s μ_s and total variance
v = mean_s (σ²_s + μ²_s) − m². Distributional metrics (CRPS, quantile calibration, coverage) use
the mixture CDF, computed per output dimension and averaged.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp, ndtr

NUM_BINS = 15
CALIBRATION_LEVELS = np.linspace(0.01, 0.99, 20)
COVERAGE_LEVELS = (0.5, 0.9, 0.95)


def _as_numpy(array) -> np.ndarray:
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    return np.asarray(array, dtype=np.float64)


def _prepare(means, variances, targets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrays ``[S, N, D]``, ``[S, N, D]`` and ``[N, D]`` (targets may be ``[N]``)."""
    means, variances, targets = _as_numpy(means), _as_numpy(variances), _as_numpy(targets)
    if targets.ndim == 1:
        targets = targets[:, None]
    return means, variances, targets


def _normal_logpdf(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """log N(x; mean, std²), elementwise (scipy.stats is left out: it slows every trial's start-up)."""
    return -0.5 * ((x - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)


def predictive_moments(means: ArrayLike, variances: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mixture mean m and total variance v, each ``[N, D]``."""
    means, variances = _as_numpy(means), _as_numpy(variances)
    mean = means.mean(0)
    return mean, np.maximum((variances + means**2).mean(0) - mean**2, 1e-300)


def lpd(means: ArrayLike, variances: ArrayLike, targets: ArrayLike) -> float:
    """Mean over points of log (1/S Σ_s Π_d N(y_d; μ_sd, σ²_sd)): the mixture's log density."""
    means, variances, targets = _prepare(means, variances, targets)
    per_sample = _normal_logpdf(targets[None], means, np.sqrt(variances)).sum(-1)
    return float(np.mean(logsumexp(per_sample, axis=0) - np.log(len(means))))


def nll(means: ArrayLike, variances: ArrayLike, targets: ArrayLike) -> float:
    """Gaussian NLL of the moment-matched predictive N(m, v), summed over dims, mean over points."""
    means, variances, targets = _prepare(means, variances, targets)
    mean, variance = predictive_moments(means, variances)
    return float(-np.mean(_normal_logpdf(targets, mean, np.sqrt(variance)).sum(-1)))


def mae(means: ArrayLike, variances: ArrayLike, targets: ArrayLike) -> float:
    """Mean absolute error of the predictive mean (over points and dims)."""
    means, variances, targets = _prepare(means, variances, targets)
    return float(np.mean(np.abs(targets - means.mean(0))))


def rmse(means: ArrayLike, variances: ArrayLike, targets: ArrayLike) -> float:
    """Root mean squared error of the predictive mean (over points and dims)."""
    means, variances, targets = _prepare(means, variances, targets)
    return float(np.sqrt(np.mean((targets - means.mean(0)) ** 2)))


def _abs_moment(mu: np.ndarray, var: np.ndarray) -> np.ndarray:
    """E|X| for X ~ N(mu, var)."""
    sigma = np.sqrt(var)
    z = mu / sigma
    return 2 * sigma * np.exp(_normal_logpdf(z, 0.0, 1.0)) + mu * (2 * ndtr(z) - 1)


def crps(means: ArrayLike, variances: ArrayLike, targets: ArrayLike, chunk: int = 256) -> float:
    """CRPS of the mixture, E|X − y| − ½ E|X − X'|, closed form for Gaussian components.

    Mean over points and output dimensions; costs O(S² N D), computed in chunks of points.
    """
    means, variances, targets = _prepare(means, variances, targets)
    scores = []
    for start in range(0, targets.shape[0], chunk):
        mu, var, y = (
            means[:, start : start + chunk],
            variances[:, start : start + chunk],
            targets[start : start + chunk],
        )
        to_target = _abs_moment(y[None] - mu, var).mean(0)
        between = _abs_moment(mu[:, None] - mu[None, :], var[:, None] + var[None, :]).mean((0, 1))
        scores.append(to_target - 0.5 * between)
    return float(np.mean(np.concatenate(scores)))


def mixture_cdf(means: ArrayLike, variances: ArrayLike, targets: ArrayLike) -> np.ndarray:
    """F(y) of the mixture at each target, ``[N, D]``."""
    means, variances, targets = _prepare(means, variances, targets)
    return ndtr((targets[None] - means) / np.sqrt(variances)).mean(0)


def quantile_calibration_error(
    means: ArrayLike, variances: ArrayLike, targets: ArrayLike, levels: ArrayLike = CALIBRATION_LEVELS
) -> float:
    """Mean over levels p of |fraction of targets below the mixture's p-quantile − p|.

    A target lies below the p-quantile exactly when F(y) ≤ p, so no quantile is solved for.
    """
    cdf = mixture_cdf(means, variances, targets)
    return float(np.mean([abs(np.mean(cdf <= level) - level) for level in levels]))


def coverage(means: ArrayLike, variances: ArrayLike, targets: ArrayLike, level: float) -> float:
    """Fraction of targets inside the mixture's central ``level`` interval."""
    cdf = mixture_cdf(means, variances, targets)
    return float(np.mean((cdf >= (1 - level) / 2) & (cdf <= (1 + level) / 2)))


def ence(means: ArrayLike, variances: ArrayLike, targets: ArrayLike, num_bins: int = NUM_BINS) -> float:
    """Expected normalised calibration error: points sorted by predicted std in equal-count bins,
    mean over bins of |RMV − RMSE| / RMV (root mean variance vs root mean squared error)."""
    means, variances, targets = _prepare(means, variances, targets)
    mean, variance = predictive_moments(means, variances)
    variance, errors = variance.ravel(), ((targets - mean) ** 2).ravel()
    groups = np.array_split(np.argsort(variance, kind="stable"), min(num_bins, len(variance)))
    rmv = np.array([np.sqrt(variance[g].mean()) for g in groups])
    rmse_bins = np.array([np.sqrt(errors[g].mean()) for g in groups])
    return float(np.mean(np.abs(rmv - rmse_bins) / rmv))


def z_score_variance(means: ArrayLike, variances: ArrayLike, targets: ArrayLike) -> float:
    """Variance of (y − m)/√v over points and dims; 1 for a calibrated Gaussian predictive."""
    means, variances, targets = _prepare(means, variances, targets)
    mean, variance = predictive_moments(means, variances)
    return float(np.var((targets - mean) / np.sqrt(variance)))


def total_variance_per_point(means: ArrayLike, variances: ArrayLike) -> np.ndarray:
    """Total predictive variance summed over output dims, ``[N]``: the OOD score for regression."""
    return predictive_moments(means, variances)[1].sum(-1)


def regression_metrics(means: ArrayLike, variances: ArrayLike, targets: ArrayLike) -> dict[str, float]:
    """Every per-split regression metric, keyed by the names used in MLflow and tables."""
    values = {
        "elpd": lpd(means, variances, targets),
        "nll": nll(means, variances, targets),
        "mae": mae(means, variances, targets),
        "rmse": rmse(means, variances, targets),
        "crps": crps(means, variances, targets),
        "ence": ence(means, variances, targets),
        "calibration_error": quantile_calibration_error(means, variances, targets),
        "z_variance": z_score_variance(means, variances, targets),
    }
    for level in COVERAGE_LEVELS:
        values[f"coverage_{round(level * 100)}"] = coverage(means, variances, targets, level)
    return values
