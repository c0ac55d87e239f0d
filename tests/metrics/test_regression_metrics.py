"""Regression metrics against closed forms, numerical integration and hand-made cases."""

import numpy as np
import pytest
import torch
from scipy import integrate
from scipy.stats import norm

from bdlsweep.metrics import regression as rm


def test_lpd_of_one_gaussian_is_its_log_density():
    means, variances = np.array([[[0.5], [1.0]]]), np.array([[[2.0], [0.5]]])
    targets = np.array([1.0, -1.0])
    expected = np.mean(norm.logpdf(targets, [0.5, 1.0], np.sqrt([2.0, 0.5])))
    assert rm.lpd(means, variances, targets) == pytest.approx(expected)
    assert rm.nll(means, variances, targets) == pytest.approx(-expected)


def test_lpd_of_a_mixture_and_its_moments():
    means = np.array([[[0.0]], [[2.0]]])
    variances = np.array([[[1.0]], [[0.25]]])
    y = np.array([0.7])
    density = 0.5 * norm.pdf(0.7, 0.0, 1.0) + 0.5 * norm.pdf(0.7, 2.0, 0.5)
    assert rm.lpd(means, variances, y) == pytest.approx(np.log(density))
    mean, variance = rm.predictive_moments(means, variances)
    assert mean.item() == pytest.approx(1.0)
    assert variance.item() == pytest.approx(0.5 * (1 + 0.25) + 0.5 * (0 + 4) - 1)


def test_crps_of_a_gaussian_matches_the_closed_form():
    mu, sigma, y = 0.3, 1.7, -0.4
    z = (y - mu) / sigma
    expected = sigma * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))
    assert rm.crps(np.array([[[mu]]]), np.array([[[sigma**2]]]), np.array([y])) == pytest.approx(expected)


def test_crps_of_a_mixture_matches_numerical_integration():
    means = np.array([[[0.0]], [[2.0]], [[-1.0]]])
    variances = np.array([[[1.0]], [[0.25]], [[0.5]]])
    y = 0.4

    def squared_gap(x):
        cdf = np.mean(
            [norm.cdf(x, m, np.sqrt(v)) for m, v in zip(means.ravel(), variances.ravel(), strict=True)]
        )
        return (cdf - (x >= y)) ** 2

    expected = integrate.quad(squared_gap, -30, y)[0] + integrate.quad(squared_gap, y, 30)[0]
    assert rm.crps(means, variances, np.array([y])) == pytest.approx(expected, rel=1e-6)


def test_calibrated_predictive_has_nominal_coverage_and_small_errors():
    rng = np.random.default_rng(0)
    n = 20000
    mu = rng.normal(size=(1, n, 1))
    var = rng.uniform(0.5, 2.0, size=(1, n, 1))
    y = (mu + rng.normal(size=(1, n, 1)) * np.sqrt(var))[0]
    for level in (0.5, 0.9, 0.95):
        assert rm.coverage(mu, var, y, level) == pytest.approx(level, abs=0.01)
    assert rm.quantile_calibration_error(mu, var, y) < 0.01
    assert rm.z_score_variance(mu, var, y) == pytest.approx(1.0, abs=0.03)
    assert rm.ence(mu, var, y) < 0.05
    overconfident = rm.quantile_calibration_error(mu, var / 4, y)
    assert overconfident > 0.1
    assert rm.coverage(mu, var / 4, y, 0.9) < 0.7


def test_ence_and_errors_on_hand_case():
    means = np.zeros((1, 4, 1))
    variances = np.array([[[1.0], [1.0], [4.0], [4.0]]])
    targets = np.array([1.0, -1.0, 1.0, 1.0])
    # bins {1, 1} (RMV 1, RMSE 1) and {4, 4} (RMV 2, RMSE 1): ENCE = (0 + 0.5) / 2
    assert rm.ence(means, variances, targets, num_bins=2) == pytest.approx(0.25)
    assert rm.mae(means, variances, targets) == pytest.approx(1.0)
    assert rm.rmse(means, variances, targets) == pytest.approx(1.0)


def test_total_variance_sums_dims_and_all_metrics_are_named():
    means = np.zeros((2, 3, 2))
    means[1] += 2.0
    variances = np.ones((2, 3, 2))
    assert np.allclose(rm.total_variance_per_point(means, variances), 2 * (1 + 1))
    names = set(rm.regression_metrics(means, variances, np.zeros((3, 2))))
    assert {"elpd", "rmse", "crps", "coverage_90", "calibration_error", "ence"} <= names


def test_metrics_in_data_units_scale_errors_and_shift_the_log_density():
    from bdlsweep.trainables.inference.likelihoods import LIKELIHOODS

    likelihood = LIKELIHOODS["regression"]
    generator = torch.Generator().manual_seed(0)
    samples = torch.cat(
        [torch.randn(5, 30, 1, generator=generator), torch.rand(5, 30, 1, generator=generator) + 0.1], -1
    )
    targets = torch.randn(30, 1, generator=generator)
    standard = likelihood.metrics(samples, targets)
    scaled = likelihood.metrics(*likelihood.in_data_units(samples, targets, 50.0))
    assert scaled["rmse"] == pytest.approx(50 * standard["rmse"], rel=1e-5)
    assert scaled["elpd"] == pytest.approx(standard["elpd"] - np.log(50.0), abs=1e-5)
    assert likelihood.in_data_units(samples, targets, 1.0)[0] is samples
