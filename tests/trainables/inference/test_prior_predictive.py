"""Prior-predictive outputs and correlations against closed forms for a linear model."""

import numpy as np
import pytest
import torch

from bdlsweep.trainables.inference.prior_predictive import (
    class_correlations,
    input_correlations,
    paired_correlation,
    prior_outputs,
)
from bdlsweep.trainables.posteriors.base import ModelRecipe

LINEAR = ModelRecipe("mlp", {"hidden": []}, (3,), 10)  # f(x) = W x + b


def test_prior_samples_at_variance_zero_are_all_identical():
    recipe = ModelRecipe("lenet5", {}, (1, 28, 28), 10)
    outputs = prior_outputs(recipe.build(), torch.randn(4, 1, 28, 28), 0.0, num_samples=5)
    assert outputs.shape == (5, 4, 10)
    assert all(torch.equal(outputs[0], sample) for sample in outputs)
    assert not torch.equal(*prior_outputs(recipe.build(), torch.randn(4, 1, 28, 28), 0.1, num_samples=2))
    with pytest.raises(ValueError, match="negative"):
        prior_outputs(recipe.build(), torch.randn(1, 1, 28, 28), -1.0, 1)


def test_a_linear_models_prior_outputs_have_the_closed_form_variance_and_correlation():
    inputs = torch.tensor([[1.0, 0.0, 0.5], [0.5, 1.0, -0.5], [-1.0, 0.2, 0.0]])
    outputs = prior_outputs(LINEAR.build(), inputs, 0.3, num_samples=4000, seed=1)
    squared = (inputs**2).sum(1) + 1  # |x|² + 1 (the bias)
    variances = outputs.double().var(dim=0).mean(dim=1)  # pooled over the 10 outputs
    np.testing.assert_allclose(variances.numpy(), 0.3 * squared.numpy(), rtol=0.05)
    expected = (inputs @ inputs.T + 1) / torch.sqrt(squared[:, None] * squared[None, :])
    np.testing.assert_allclose(input_correlations(outputs), expected.numpy(), atol=0.03)
    assert paired_correlation(outputs, outputs) == pytest.approx(1.0)
    first_with_second = paired_correlation(outputs[:, :1], outputs[:, 1:2])
    assert first_with_second == pytest.approx(float(expected[0, 1]), abs=0.03)


def test_class_correlation_diagrams_average_pairs_of_distinct_inputs():
    correlations = np.array(
        [
            [1.0, 0.8, 0.2, 0.4],
            [0.8, 1.0, 0.6, 0.0],
            [0.2, 0.6, 1.0, 0.5],
            [0.4, 0.0, 0.5, 1.0],
        ]
    )
    table = class_correlations(correlations, np.array([0, 0, 1, 2]), 4)
    assert table[0, 0] == pytest.approx(0.8)  # only the pair (0, 1): an input with itself is left out
    assert table[0, 1] == pytest.approx((0.2 + 0.6) / 2)
    assert table[1, 2] == pytest.approx(0.5)
    assert np.isnan(table[1, 1]) and np.isnan(table[3, 0])  # one image in class 1, none in class 3
