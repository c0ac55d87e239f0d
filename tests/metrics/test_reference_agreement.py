"""Agreement, total variation and the Gaussian 2-Wasserstein distance against hand computations and an
independent quadrature; a predictive compared with itself agrees fully at distance 0."""

import numpy as np
import pytest
from scipy.special import log_softmax
from scipy.stats import norm

from bdlsweep.metrics.reference_agreement import (
    agreement,
    classification_closeness,
    gaussian_wasserstein2,
    regression_closeness,
    total_variation,
)

PROBS = np.array([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4], [0.3, 0.3, 0.4]])
REFERENCE = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.2, 0.2, 0.6]])


def test_agreement_and_total_variation_by_hand():
    assert agreement(PROBS, REFERENCE) == pytest.approx(2 / 3)  # classes 0/0, 1/2, 2/2
    by_hand = [0.5 * (0.1 + 0.1 + 0.0), 0.5 * (0.1 + 0.3 + 0.2), 0.5 * (0.1 + 0.1 + 0.2)]
    assert total_variation(PROBS, REFERENCE) == pytest.approx(np.mean(by_hand))
    one_hot, other = np.eye(3), np.roll(np.eye(3), 1, axis=1)
    assert total_variation(one_hot, other) == pytest.approx(1.0) and agreement(one_hot, other) == 0.0


def test_a_predictive_compared_with_itself_agrees_fully_at_distance_zero():
    rng = np.random.default_rng(0)
    log_probs = log_softmax(rng.normal(size=(5, 40, 4)), axis=-1)
    reference = np.exp(log_probs).mean(0)
    closeness = classification_closeness(log_probs, reference)
    assert closeness["agreement"] == 1.0 and closeness["total_variation"] == pytest.approx(0.0, abs=1e-12)
    means, variances = rng.normal(size=(5, 40, 2)), rng.uniform(0.1, 2.0, size=(5, 40, 2))
    mixture_mean = means.mean(0)
    mixture_variance = (variances + means**2).mean(0) - mixture_mean**2
    closeness = regression_closeness(means, variances, mixture_mean, mixture_variance)
    assert closeness["wasserstein2"] == pytest.approx(0.0, abs=1e-7)


def test_the_gaussian_wasserstein_distance_matches_quadrature_of_the_quantile_functions():
    assert gaussian_wasserstein2([[0.0]], [[1.0]], [[3.0]], [[4.0]]) == pytest.approx(np.sqrt(10.0))
    levels = (np.arange(200_000) + 0.5) / 200_000  # W2² = ∫₀¹ (F⁻¹(u) − G⁻¹(u))² du in one dimension
    quadrature = np.sqrt(np.mean((norm.ppf(levels, 0.5, 1.5) - norm.ppf(levels, -1.0, 0.5)) ** 2))
    assert gaussian_wasserstein2([[0.5]], [[2.25]], [[-1.0]], [[0.25]]) == pytest.approx(quadrature, rel=1e-3)
    two_points = gaussian_wasserstein2(
        [[0.0, 0.0], [1.0, 1.0]], [[1.0, 1.0], [1.0, 1.0]], [[0.0, 0.0]] * 2, [[1.0, 1.0]] * 2
    )
    assert two_points == pytest.approx(np.mean([0.0, np.sqrt(2.0)]))


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match=r"must be \[N, C\]"):
        agreement(PROBS, REFERENCE[:2])
    with pytest.raises(ValueError, match=r"must all be \[N, D\]"):
        gaussian_wasserstein2([[0.0]], [[1.0]], [[0.0, 1.0]], [[1.0, 1.0]])
