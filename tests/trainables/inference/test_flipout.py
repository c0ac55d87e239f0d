"""Flipout: per-example output moments equal plain reparameterisation's; examples are decorrelated."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bdlsweep.trainables.inference.flipout import flipout_forward, flipout_layers


def _gaussian(module, scale, generator):
    """A mean and a std per parameter of ``module``."""
    mean = {
        name: torch.randn(p.shape, generator=generator, dtype=p.dtype)
        for name, p in module.named_parameters()
    }
    std = {
        name: scale * torch.rand(p.shape, generator=generator, dtype=p.dtype)
        for name, p in module.named_parameters()
    }
    return mean, std


def _draws(module, mean, std, inputs, calls, generator):
    return torch.cat([flipout_forward(module, mean, std, inputs, generator) for _ in range(calls)])


def test_linear_flipout_has_the_analytic_per_example_mean_and_variance():
    generator = torch.Generator().manual_seed(0)
    layer = nn.Linear(4, 3).double()
    mean, std = _gaussian(layer, 0.5, generator)
    example = torch.randn(1, 4, generator=generator, dtype=torch.float64)
    outputs = _draws(layer, mean, std, example.expand(25, 4), 4000, generator)
    expected_mean = F.linear(example, mean["weight"], mean["bias"])[0]
    expected_variance = (example**2) @ (std["weight"] ** 2).T + std["bias"] ** 2
    assert torch.allclose(outputs.mean(0), expected_mean, atol=4 * expected_variance[0].sqrt().max() / 300)
    assert torch.allclose(outputs.var(0), expected_variance[0], rtol=0.05)


def test_conv_flipout_has_the_analytic_per_example_variance():
    generator = torch.Generator().manual_seed(1)
    conv = nn.Conv2d(2, 3, 3, padding=1).double()
    mean, std = _gaussian(conv, 0.5, generator)
    example = torch.randn(1, 2, 5, 5, generator=generator, dtype=torch.float64)
    outputs = _draws(conv, mean, std, example.expand(10, 2, 5, 5), 3000, generator)
    expected_mean = F.conv2d(example, mean["weight"], mean["bias"], padding=1)[0]
    expected_variance = F.conv2d(example**2, std["weight"] ** 2, std["bias"] ** 2, padding=1)[0]
    assert torch.allclose(outputs.mean(0), expected_mean, atol=0.05)
    assert torch.allclose(outputs.var(0), expected_variance, rtol=0.08)


def test_flipout_decorrelates_the_examples_of_a_batch():
    generator = torch.Generator().manual_seed(2)
    layer = nn.Linear(3, 1).double()
    mean, std = _gaussian(layer, 1.0, generator)
    pair = torch.randn(1, 3, generator=generator, dtype=torch.float64).expand(2, 3)
    flipped = torch.stack([flipout_forward(layer, mean, std, pair, generator)[:, 0] for _ in range(4000)])
    assert abs(torch.corrcoef(flipped.T)[0, 1]) < 0.06
    shared = {
        name: mean[name] + std[name] * torch.randn(mean[name].shape, generator=generator, dtype=torch.float64)
        for name in mean
    }
    same = torch.func.functional_call(layer, shared, (pair,))
    assert torch.equal(same[0], same[1])  # one shared weight draw: identical outputs


def test_flipout_covers_linear_and_zero_padded_conv_layers_only():
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3),
        nn.Conv2d(2, 2, 3, padding=1, padding_mode="circular"),
        nn.Flatten(),
        nn.LayerNorm(32),
        nn.Linear(32, 2),
    )
    assert set(flipout_layers(model)) == {"0", "4"}
    mean = {name: p.detach() for name, p in model.named_parameters()}
    std = {name: torch.zeros_like(p) for name, p in mean.items()}
    inputs = torch.randn(3, 1, 6, 6)
    with torch.no_grad():
        assert torch.allclose(flipout_forward(model, mean, std, inputs), model(inputs))  # zero std: the mean
    assert not any(module._forward_hooks for module in model.modules())  # hooks removed afterwards


@pytest.mark.parametrize("flipout", [False, True], ids=["reparameterization", "flipout"])
def test_mean_field_elbo_estimators_share_their_expectation(flipout):
    from bdlsweep.trainables.inference.mean_field import MeanField, negative_elbo

    generator = torch.Generator().manual_seed(3)
    model = nn.Linear(3, 2).double()
    weights = torch.randn(8, generator=generator, dtype=torch.float64)
    q = MeanField(weights, initial_std=0.3)
    inputs = torch.randn(16, 3, generator=generator, dtype=torch.float64)
    targets = torch.randn(16, 2, generator=generator, dtype=torch.float64)

    def squared_error(outputs, labels):
        return ((outputs - labels) ** 2).mean()

    estimates = torch.stack(
        [
            negative_elbo(model, q, inputs, targets, squared_error, 16, 0.0, 1.0, generator, flipout=flipout)
            for _ in range(3000)
        ]
    ).detach()
    mean, std = weights[:6].view(2, 3), q.std.detach()
    weight_variance, bias_variance = std[:6].view(2, 3) ** 2, std[6:] ** 2
    residual = inputs @ mean.T + weights[6:] - targets
    expected = 16 * ((residual**2).mean() + ((inputs**2) @ weight_variance.T + bias_variance).mean())
    assert estimates.mean().item() == pytest.approx(expected.item(), rel=0.02)
