"""SWAG: moments match the collected iterates; samples have the SWAG covariance; save/load round trip."""

import numpy as np
import pytest
import torch
from torch.nn.utils import parameters_to_vector

from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.posteriors.base import ModelRecipe
from bdlsweep.trainables.posteriors.swag_gaussian import SWAGMoments, SWAGPosterior, SWAPosterior


def _iterates(count=6, size=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(count, size, generator=generator, dtype=torch.float64) * torch.linspace(0.5, 2, size)


def test_moments_match_iterates():
    iterates = _iterates()
    moments = SWAGMoments(5, rank=4, dtype=torch.float64)
    for weights in iterates:
        moments.collect(weights)
    assert torch.allclose(moments.mean, iterates.mean(0))
    expected_var = torch.clamp((iterates**2).mean(0) - iterates.mean(0) ** 2, min=1e-8)
    assert torch.allclose(moments.variance, expected_var)
    assert moments.snapshots.shape == (4, 5)
    assert torch.equal(moments.snapshots, iterates[-4:])
    assert torch.allclose(moments.deviations, (iterates[-4:] - iterates.mean(0)).T)


def test_sample_covariance_matches_swag_covariance():
    iterates = _iterates(count=5, size=4, seed=1)
    moments = SWAGMoments(4, rank=5, dtype=torch.float64)
    for weights in iterates:
        moments.collect(weights)
    deviations = (iterates - iterates.mean(0)).T
    expected = 0.5 * torch.diag(moments.variance) + 0.5 * deviations @ deviations.T / (5 - 1)
    assert torch.allclose(moments.covariance(), expected)
    generator = torch.Generator().manual_seed(0)
    samples = torch.stack([moments.sample(generator) for _ in range(40000)]).numpy()
    assert np.allclose(samples.mean(0), iterates.mean(0).numpy(), atol=0.03)
    assert np.allclose(np.cov(samples.T), expected.numpy(), atol=0.05 * expected.abs().max().item())


def test_variance_floor():
    moments = SWAGMoments(3, rank=2)
    moments.collect(torch.ones(3))
    moments.collect(torch.ones(3))
    assert torch.allclose(moments.variance, torch.full((3,), 1e-8))


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", {})


def _swag_posterior(digits):
    torch.manual_seed(0)
    recipe = ModelRecipe("cnn", {"channels": [4, 8], "batch_norm": True}, digits.input_shape, 10)
    model = recipe.build()
    moments = SWAGMoments(sum(p.numel() for p in model.parameters()), rank=3)
    base = parameters_to_vector(model.parameters()).detach()
    for step in range(4):
        moments.collect(base + 0.05 * torch.randn(base.shape, generator=torch.Generator().manual_seed(step)))
    return SWAGPosterior(model, recipe, moments, digits.train.inputs)


def test_save_load_round_trip_gives_identical_predictions(tmp_path, digits):
    posterior = _swag_posterior(digits)
    posterior.save(tmp_path / "swag")
    loaded = SWAGPosterior.load(tmp_path / "swag", train_inputs=digits.train.inputs)
    inputs = digits.test.inputs[:50]
    first = posterior.predict(inputs, 3, torch.Generator().manual_seed(7))
    second = loaded.predict(inputs, 3, torch.Generator().manual_seed(7))
    assert first.shape == (3, 50, 10)
    assert torch.allclose(first, second, atol=1e-6)
    assert not torch.allclose(first[0], first[1])


def test_batch_norm_needs_training_inputs(tmp_path, digits):
    _swag_posterior(digits).save(tmp_path / "swag")
    loaded = SWAGPosterior.load(tmp_path / "swag")
    with pytest.raises(ValueError, match="batch norm"):
        loaded.predict(digits.test.inputs[:5], 1, torch.Generator().manual_seed(0))


def test_swa_uses_the_mean_weights(tmp_path, digits):
    posterior = _swag_posterior(digits)
    posterior.save(tmp_path / "swag")
    swa = SWAPosterior.load(tmp_path / "swag", train_inputs=digits.train.inputs)
    assert swa.deterministic
    assert torch.allclose(parameters_to_vector(swa.model.parameters()), posterior.moments.mean)
    outputs = swa.predict(digits.test.inputs[:20], 5, torch.Generator())
    assert outputs.shape == (1, 20, 10)
