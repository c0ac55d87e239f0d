"""Sampled last-layer heads: their logits, log-likelihoods and predictives against the heads' own outputs."""

import torch
from torch.nn import functional as F

from bdlsweep.trainables.inference.likelihoods import LIKELIHOODS
from bdlsweep.trainables.posteriors.last_layer import (
    ClassificationHead,
    RegressionMeanHead,
    RegressionWholeHead,
    head_logits,
)


def test_head_log_likelihood_matches_cross_entropy():
    features, labels = torch.randn(6, 4), torch.tensor([0, 2, 1, 1, 0, 2])
    head = torch.nn.Linear(4, 3)
    weights = torch.cat([head.weight.flatten(), head.bias])[None]
    assert torch.allclose(head_logits(weights, features, head.weight.shape)[0], head(features), atol=1e-6)
    expected = -F.cross_entropy(head(features), labels, reduction="sum")
    assert torch.allclose(
        ClassificationHead(head).log_likelihood(weights, features, labels)[0], expected, atol=1e-5
    )


def test_regression_head_log_likelihood_and_predictive():
    torch.manual_seed(0)
    head = torch.nn.Linear(3, 2)
    features, targets = torch.randn(7, 3), torch.randn(7, 1)
    regression = RegressionMeanHead(head)
    weights = torch.cat([head.weight[0], head.bias[:1]])[None].repeat(2, 1)
    weights[1] += 0.3
    variance = torch.nn.functional.softplus(head(features)[:, 1:]) + 1e-6
    for index in range(2):
        mean = torch.cat([features, torch.ones(7, 1)], 1) @ weights[index]
        expected = torch.distributions.Normal(mean[:, None], variance.sqrt()).log_prob(targets).sum()
        assert torch.allclose(
            regression.log_likelihood(weights, features, targets)[index], expected, atol=1e-5
        )
    predictive = regression.predict(weights, features)
    assert predictive.shape == (2, 7, 2)
    assert torch.allclose(predictive[0, :, :1], head(features)[:, :1], atol=1e-5)
    assert torch.allclose(predictive[1, :, 1:], variance)


def test_whole_regression_head_samples_means_and_variances():
    torch.manual_seed(0)
    head = torch.nn.Linear(3, 2)
    features, targets = torch.randn(7, 3), torch.randn(7, 1)
    regression = RegressionWholeHead(head)
    weights = torch.cat([head.weight.detach().flatten(), head.bias.detach()])[None].repeat(2, 1)
    weights[1] += 0.3
    for index in range(2):
        shifted = torch.nn.Linear(3, 2)
        torch.nn.utils.vector_to_parameters(weights[index], shifted.parameters())
        outputs = shifted(features)
        expected = -LIKELIHOODS["regression"].loss(outputs, targets) * len(
            targets
        )  # the training loss, summed
        assert torch.allclose(
            regression.log_likelihood(weights, features, targets)[index], expected, atol=1e-5
        )
        assert torch.allclose(
            regression.predict(weights, features)[index], LIKELIHOODS["regression"].predictive(outputs)
        )
