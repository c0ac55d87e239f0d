"""Image architectures: parameter counts as published, forward/backward on CPU, FRN maths."""

import pytest
import torch

from bdlsweep.trainables.models import build_model
from bdlsweep.trainables.models.normalization import FilterResponseNorm2d

CASES = [
    # name, options, input shape, published parameter count (millions), feature width
    ("wide_resnet", {}, (3, 32, 32), 2.75, 256),
    ("wide_resnet", {"depth": 28, "widen_factor": 10}, (3, 32, 32), 36.5, 640),
    ("preresnet", {}, (3, 32, 32), 0.27, 64),
    ("resnet", {}, (3, 32, 32), 0.27, 64),
    ("lenet5", {}, (1, 28, 28), 0.0617, 84),
    ("mlp", {"hidden": [32, 16]}, (1, 8, 8), (64 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10) / 1e6, 16),
    ("cnn", {"channels": [8, 12]}, (1, 8, 8), None, 12),
]


@pytest.mark.parametrize(("name", "options", "shape", "millions", "width"), CASES)
def test_parameter_count_and_feature_width(name, options, shape, millions, width):
    model = build_model(name, options, shape, 10)
    count = sum(p.numel() for p in model.parameters()) / 1e6
    if millions is not None:
        assert count == pytest.approx(millions, rel=0.02)
    assert model.head.in_features == width


@pytest.mark.parametrize(("name", "options", "shape", "millions", "width"), CASES[:1] + CASES[2:])
def test_forward_backward(name, options, shape, millions, width):
    torch.manual_seed(0)
    model = build_model(name, {**options, **({"dropout": 0.1} if "dropout" in options else {})}, shape, 7)
    inputs = torch.randn(3, *shape)
    features = model.features(inputs)
    assert features.shape == (3, width)
    logits = model(inputs)
    assert logits.shape == (3, 7)
    assert torch.allclose(logits, model.head(features))
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2])).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_filter_response_norm_matches_its_formula_and_ignores_the_batch():
    torch.manual_seed(0)
    layer = FilterResponseNorm2d(4)
    with torch.no_grad():
        layer.weight.uniform_(0.5, 2)
        layer.bias.normal_()
        layer.tau.normal_()
    x = torch.randn(5, 4, 6, 6)
    nu2 = (x**2).mean(dim=(2, 3), keepdim=True)
    expected = torch.maximum(layer.weight * x / torch.sqrt(nu2 + 1e-6) + layer.bias, layer.tau)
    assert torch.allclose(layer(x), expected, atol=1e-6)
    assert torch.allclose(layer(x[:1]), layer(x)[:1], atol=1e-6)


def test_frn_wide_resnet_has_no_batch_norm_and_preresnet_has():
    from bdlsweep.trainables.inference.network_weights import has_batch_norm

    assert not has_batch_norm(build_model("wide_resnet", {}, (3, 32, 32), 10))
    assert not has_batch_norm(build_model("resnet", {}, (3, 32, 32), 10))
    assert has_batch_norm(build_model("preresnet", {}, (3, 32, 32), 10))
    assert has_batch_norm(build_model("wide_resnet", {"norm": "batch"}, (3, 32, 32), 10))


def test_invalid_depth_is_refused():
    with pytest.raises(ValueError, match="6n \\+ 4"):
        build_model("wide_resnet", {"depth": 15}, (3, 32, 32), 10)
