"""Packed-Ensembles: parameter counts by the formula, independent estimators, estimator replay."""

import itertools

import pytest
import torch

from bdlsweep.trainables.models import build_model
from bdlsweep.trainables.models.packed_networks import packed_width


def expected_parameters(
    inputs: int, hidden: list[int], classes: int, alpha: float, m: int, gamma: int
) -> int:
    """First layer dense into α·h outputs; later layers grouped M·γ ways; last layer M·K outputs."""
    widths = [packed_width(h, alpha, m * gamma) for h in hidden]
    total = inputs * widths[0] + widths[0]
    for before, after in itertools.pairwise(widths):
        total += before * after // (m * gamma) + after
    return total + widths[-1] * classes * m // (m * gamma) + classes * m


@pytest.mark.parametrize(("alpha", "m", "gamma"), [(2.0, 4, 1), (1.0, 2, 1), (3.0, 4, 2), (2.0, 3, 2)])
def test_parameter_count_matches_the_formula(alpha, m, gamma):
    model = build_model(
        "packed_mlp", {"hidden": [32, 24], "alpha": alpha, "num_estimators": m, "gamma": gamma}, (64,), 10
    )
    assert sum(p.numel() for p in model.parameters()) == expected_parameters(
        64, [32, 24], 10, alpha, m, gamma
    )


def test_estimators_are_independent_and_differ():
    torch.manual_seed(0)
    model = build_model("packed_mlp", {"hidden": [16, 16], "alpha": 2.0, "num_estimators": 4}, (8,), 3)
    inputs = torch.randn(5, 8)
    features = model.features(inputs)
    outputs = model.head(features).reshape(5, 4, 3)
    block = features.shape[1] // 4
    changed = features.clone()
    changed[:, block : 2 * block] = torch.randn(5, block)
    again = model.head(changed).reshape(5, 4, 3)
    assert torch.allclose(again[:, 0], outputs[:, 0]) and torch.allclose(again[:, 2:], outputs[:, 2:])
    assert not torch.allclose(again[:, 1], outputs[:, 1])
    assert not torch.allclose(outputs[:, 0], outputs[:, 1], atol=1e-3)


def test_posterior_returns_each_estimator_as_a_sample(tmp_path):
    from bdlsweep.trainables.methods.packed import PackedPosterior
    from bdlsweep.trainables.posteriors.base import ModelRecipe

    recipe = ModelRecipe("packed_mlp", {"hidden": [8], "alpha": 2.0, "num_estimators": 3}, (4,), 2)
    posterior = PackedPosterior(recipe.build(), recipe)
    inputs = torch.randn(6, 4)
    estimators = posterior.estimators(inputs)
    assert estimators.shape == (3, 6, 2) and torch.allclose(estimators.exp().sum(-1), torch.ones(3, 6))
    drawn = posterior.predict(inputs, 3, torch.Generator().manual_seed(0))
    assert sorted(map(tuple, drawn[:, 0].tolist())) == sorted(map(tuple, estimators[:, 0].tolist()))
    loaded = PackedPosterior.load(posterior.save(tmp_path / "packed"))
    assert torch.allclose(loaded.estimators(inputs), estimators)


def test_packed_stage_needs_a_packable_model(tmp_path):
    from bdlsweep.sweeps.reading.errors import SpecError
    from bdlsweep.sweeps.spec.loading import load_spec

    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        "name: p\ndataset: {name: digits}\nmodel: {name: cnn}\nseeds: 1\n"
        "stages: {packed: {method: packed}}\nevaluate: {methods: [packed]}\n"
    )
    with pytest.raises(SpecError, match=r"stages\.packed\.method: packed needs the model mlp"):
        load_spec(sweep)


def test_lenet5_and_its_packed_twin_have_the_tutorials_parameter_counts():
    """TorchUncertainty's MNIST tutorial: LeNet 44.4 K weights, PackedLeNet (α 2, M 4, γ 1) 45.67 K."""
    plain = build_model("lenet5", {"padding": 0}, (1, 28, 28), 10)
    packed = build_model(
        "packed_lenet5", {"padding": 0, "alpha": 2.0, "num_estimators": 4, "gamma": 1}, (1, 28, 28), 10
    )
    assert sum(p.numel() for p in plain.parameters()) == 156 + 2416 + 30840 + 10164 + 850
    assert sum(p.numel() for p in packed.parameters()) == 312 + 2432 + 30960 + 10248 + 1720


def test_packed_lenet5_estimators_never_see_each_others_channels():
    torch.manual_seed(0)
    model = build_model("packed_lenet5", {"alpha": 2.0, "num_estimators": 4}, (1, 12, 12), 3)
    convolutions, rest = model.backbone[0], model.backbone[1:]
    first, later = convolutions[0], convolutions[1:]

    def outputs(maps: torch.Tensor) -> torch.Tensor:
        return model.head(rest(later(maps))).reshape(len(maps), 4, 3)

    maps = first(torch.randn(5, 1, 12, 12))
    block = maps.shape[1] // 4
    changed = maps.clone()
    changed[:, 2 * block : 3 * block] = torch.randn(5, block, *maps.shape[2:])
    before, after = outputs(maps), outputs(changed)
    assert torch.allclose(after[:, :2], before[:, :2]) and torch.allclose(after[:, 3], before[:, 3])
    assert not torch.allclose(after[:, 2], before[:, 2])
