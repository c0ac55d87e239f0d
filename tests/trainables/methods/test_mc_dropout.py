"""MC dropout: samples differ, are reproducible from the generator, and their mean converges."""

import pytest
import torch

from bdlsweep.trainables.methods.mc_dropout import MCDropoutPosterior
from bdlsweep.trainables.posteriors.base import ModelRecipe


@pytest.fixture()
def posterior():
    torch.manual_seed(0)
    recipe = ModelRecipe("mlp", {"hidden": [32, 32], "dropout": 0.3}, (1, 8, 8), 10)
    return MCDropoutPosterior(recipe.build(), recipe)


def test_samples_differ_and_repeat_with_the_same_generator(posterior):
    inputs = torch.rand(20, 1, 8, 8)
    first = posterior.predict(inputs, 5, torch.Generator().manual_seed(1))
    again = posterior.predict(inputs, 5, torch.Generator().manual_seed(1))
    other = posterior.predict(inputs, 5, torch.Generator().manual_seed(2))
    assert first.shape == (5, 20, 10)
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)
    assert not torch.allclose(first[0], first[1])


def test_mean_of_samples_converges(posterior):
    inputs = torch.rand(10, 1, 8, 8)

    def mean_probs(count, seed):
        return posterior.predict(inputs, count, torch.Generator().manual_seed(seed)).exp().mean(0)

    few = (mean_probs(5, 1) - mean_probs(5, 2)).abs().max()
    many = (mean_probs(3000, 1) - mean_probs(3000, 2)).abs().max()
    assert many < 0.01
    assert many < few / 4


def test_dropout_off_in_the_plain_model_is_deterministic(posterior):
    inputs = torch.rand(4, 1, 8, 8)
    posterior.model.eval()
    assert torch.equal(posterior.model(inputs), posterior.model(inputs))


def test_save_load_round_trip(tmp_path, posterior):
    posterior.save(tmp_path / "mcd")
    loaded = MCDropoutPosterior.load(tmp_path / "mcd")
    inputs = torch.rand(7, 1, 8, 8)
    generator = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert torch.equal(posterior.predict(inputs, 4, generator()), loaded.predict(inputs, 4, generator()))


def test_model_without_dropout_is_refused():
    recipe = ModelRecipe("mlp", {"hidden": [8]}, (1, 8, 8), 10)
    with pytest.raises(ValueError, match="no dropout layer"):
        MCDropoutPosterior(recipe.build(), recipe)
