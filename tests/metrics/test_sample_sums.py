"""Summed samples: members' partial sums give the pooled samples' metrics exactly."""

import numpy as np
import pytest
import torch

from bdlsweep.metrics import classification
from bdlsweep.metrics.sample_sums import SampleSums, classification_metrics, pooled, prefix_sums


def _log_probs(samples: int, points: int = 50, classes: int = 4, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(samples, points, classes, generator=generator, dtype=torch.float64)
    return torch.log_softmax(logits, -1)


def test_prefix_sums_of_two_members_give_the_metrics_of_their_pooled_samples():
    first, second = _log_probs(7, seed=1), _log_probs(5, seed=2)
    labels = np.random.default_rng(0).integers(0, 4, 50)
    parts = [prefix_sums(first, [3])[0], prefix_sums(second, [2, 5])[0]]
    samples = torch.cat([first[:3], second[:2]])
    combined = classification_metrics(pooled(parts), labels)
    direct = classification.classification_metrics(samples, labels)
    assert combined.keys() == direct.keys()
    for name, value in direct.items():
        assert combined[name] == pytest.approx(value, rel=1e-9, abs=1e-12, nan_ok=True), name
    assert direct["mutual_information"] > 0.01 and direct["disagreement"] > 0.01  # not trivially zero


def test_a_repeated_deterministic_member_counts_as_that_many_identical_samples():
    once = _log_probs(1, seed=3)
    labels = np.zeros(50, dtype=np.int64)
    repeated = SampleSums.of(once).repeated(3)
    direct = SampleSums.of(once.expand(3, -1, -1))
    assert repeated.count == direct.count == 3
    np.testing.assert_allclose(repeated.log_prob_sum, direct.log_prob_sum, rtol=1e-12)
    np.testing.assert_array_equal(repeated.votes, direct.votes)
    assert classification_metrics(repeated, labels) == pytest.approx(
        classification_metrics(direct, labels), nan_ok=True
    )


def test_sums_stay_finite_where_every_sample_gives_a_class_no_probability():
    log_probs = torch.full((2, 1, 3), -1e4, dtype=torch.float64)
    log_probs[:, 0, 0] = 0.0
    sums = SampleSums.of(log_probs)
    assert np.isfinite(sums.log_prob_sum).all() and np.isfinite(sums.entropy_sum).all()
    assert classification.lpd(sums.mixture(), [1]) == pytest.approx(-1e4)
