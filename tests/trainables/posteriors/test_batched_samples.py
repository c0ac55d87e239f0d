"""Weight samples predicted several per forward pass equal loading each sample into the network in turn."""

import pytest
import torch

from bdlsweep.trainables.inference.network_weights import predictive_outputs
from bdlsweep.trainables.posteriors import vmap_predictive as batched_samples
from bdlsweep.trainables.posteriors.base import ModelRecipe
from bdlsweep.trainables.posteriors.swag_gaussian import SWAGMoments, SWAGPosterior


def _swag(recipe: ModelRecipe, snapshots: int = 6) -> SWAGPosterior:
    torch.manual_seed(0)
    model = recipe.build()
    mean = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    moments = SWAGMoments(len(mean), rank=4)
    for _ in range(snapshots):
        moments.collect(mean + 0.05 * torch.randn_like(mean))
    return SWAGPosterior(model, recipe, moments)


def _one_at_a_time(posterior: SWAGPosterior, inputs: torch.Tensor, num_samples: int, seed: int):
    """The reference: each weight sample written into the network, then one forward pass."""
    generator = torch.Generator().manual_seed(seed)
    outputs = []
    for weights in posterior.weight_samples(num_samples, generator):
        torch.nn.utils.vector_to_parameters(weights, posterior.model.parameters())
        outputs.append(predictive_outputs(posterior.model, inputs, posterior.recipe.output_model))
    return torch.stack(outputs)


@pytest.mark.parametrize(
    ("name", "options", "shape", "likelihood"),
    [
        ("mlp", {"hidden": [32, 16]}, (1, 8, 8), "classification"),
        ("cnn", {"channels": [4, 8], "batch_norm": False}, (1, 8, 8), "classification"),
        ("mlp", {"hidden": [16]}, (3,), "regression"),
    ],
)
def test_batched_samples_equal_one_sample_at_a_time(monkeypatch, name, options, shape, likelihood):
    monkeypatch.setattr(batched_samples, "EVAL_BATCH_SIZE", 16)  # 40 inputs: chunks of 16, 16, 8
    monkeypatch.setattr(batched_samples, "SAMPLE_BATCH_INPUTS", 48)  # 3 samples a pass: 3, 3, 1 of 7
    outputs = 2 if likelihood == "regression" else 10
    posterior = _swag(ModelRecipe(name, options, shape, outputs, likelihood))
    inputs = torch.rand(40, *shape)
    assert posterior.batched(inputs)
    batched = posterior.predict(inputs, 7, torch.Generator().manual_seed(3))
    reference = _one_at_a_time(posterior, inputs, 7, seed=3)
    assert batched.shape == reference.shape == (7, 40, outputs)
    torch.testing.assert_close(batched, reference, rtol=1e-5, atol=1e-5)


def test_networks_with_batch_norm_or_token_inputs_keep_the_loop():
    with_batch_norm = _swag(ModelRecipe("cnn", {"channels": [4]}, (1, 8, 8), 10))
    assert not with_batch_norm.batched(torch.rand(4, 1, 8, 8))
    tokens = ModelRecipe("cnn_lstm", {"embedding": 8, "filters": 4, "hidden": 4}, (12,), 2)
    assert not SWAGPosterior.batched(_swag_like(tokens), torch.zeros(4, 12, dtype=torch.long))


def _swag_like(recipe: ModelRecipe) -> SWAGPosterior:
    """A SWAG posterior whose network is never run (only its kind of inputs matters)."""
    return SWAGPosterior(torch.nn.Linear(1, 1), recipe, SWAGMoments(2, rank=1))
