"""LLLA on cached features agrees with laplace-torch's last-layer Laplace on the whole network."""

import pytest
import torch
from laplace import Laplace
from torch.utils.data import DataLoader, TensorDataset

from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.inference.likelihoods import LIKELIHOODS
from bdlsweep.trainables.posteriors.base import ModelRecipe
from bdlsweep.trainables.posteriors.head_laplace import (
    LLLAPosterior,
    fit_head_laplace,
    fit_mean_head_laplaces,
    laplace_from_tensors,
    laplace_to_tensors,
)
from bdlsweep.trainables.posteriors.last_layer import backbone_features, head_variances
from bdlsweep.trainables.runtime.training import train_epoch


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    data = load_dataset("digits", {})
    recipe = ModelRecipe("mlp", {"hidden": [16]}, data.input_shape, 10)
    model = recipe.build()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        train_epoch(
            model, optimizer, data.train.inputs, data.train.labels, 64, torch.Generator().manual_seed(0)
        )
    return data, model


def _reference(model, data, hessian):
    reference = Laplace(model, "classification", subset_of_weights="last_layer", hessian_structure=hessian)
    reference.fit(DataLoader(TensorDataset(data.train.inputs, data.train.labels), batch_size=256))
    return reference


@pytest.mark.parametrize("hessian", ["full", "diag", "kron"])
def test_head_laplace_matches_last_layer_laplace(trained, hessian):
    data, model = trained
    features = backbone_features(model, data.train.inputs)
    ours = fit_head_laplace(model.head, features, data.train.labels, hessian)
    reference = _reference(model, data, hessian)
    for value in (0.5, 20.0):
        ours.prior_precision = value
        reference.prior_precision = value
        assert torch.allclose(ours.mean, reference.mean)
        if hessian == "kron":
            assert torch.allclose(
                ours.posterior_precision.to_matrix(), reference.posterior_precision.to_matrix(), rtol=1e-4
            )
        else:
            assert torch.allclose(
                ours.posterior_precision, reference.posterior_precision, rtol=1e-4, atol=1e-4
            )


def test_nn_predictive_matches_laplace_torch(trained):
    data, model = trained
    features = backbone_features(model, data.train.inputs)
    laplace = fit_head_laplace(model.head, features, data.train.labels, "full")
    laplace.prior_precision = 3.0
    posterior = LLLAPosterior(model, [laplace], "nn", "base", "prepared", "full")
    reference = _reference(model, data, "full")
    reference.prior_precision = 3.0
    inputs = data.test.inputs[:64]
    ours = posterior.predict(inputs, 30, torch.Generator().manual_seed(5)).exp()
    theirs = reference.predictive_samples(
        inputs, pred_type="nn", n_samples=30, generator=torch.Generator().manual_seed(5)
    )
    assert ours.shape == theirs.shape == (30, 64, 10)
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_glm_predictive_matches_laplace_torch(trained):
    data, model = trained
    features = backbone_features(model, data.train.inputs)
    laplace = fit_head_laplace(model.head, features, data.train.labels, "full")
    posterior = LLLAPosterior(model, [laplace], "glm", "base", "prepared", "full")
    reference = _reference(model, data, "full")
    inputs = data.test.inputs[:32]
    ours = posterior.predict(inputs, 10, torch.Generator().manual_seed(1)).exp()
    theirs = reference.predictive_samples(
        inputs, pred_type="glm", n_samples=10, generator=torch.Generator().manual_seed(1)
    )
    assert torch.allclose(ours, theirs, atol=1e-5)
    probit = LLLAPosterior(model, [laplace], "probit", "base", "prepared", "full")
    assert probit.deterministic
    expected = reference(inputs, pred_type="glm", link_approx="probit")
    assert torch.allclose(probit.predict(inputs, 10, torch.Generator()).exp()[0], expected, atol=1e-5)


@pytest.mark.parametrize("hessian", ["full", "diag", "kron"])
def test_laplace_state_survives_weights_only_round_trip(tmp_path, trained, hessian):
    data, model = trained
    features = backbone_features(model, data.train.inputs)
    laplace = fit_head_laplace(model.head, features, data.train.labels, hessian)
    laplace.prior_precision = 2.0
    torch.save(laplace_to_tensors(laplace), tmp_path / "la.pt")
    restored = laplace_from_tensors(model.head, hessian, torch.load(tmp_path / "la.pt", weights_only=True))
    first = laplace.sample(5, generator=torch.Generator().manual_seed(0))
    second = restored.sample(5, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(first, second)


def test_larger_prior_precision_shrinks_the_samples(trained):
    data, model = trained
    features = backbone_features(model, data.train.inputs)
    laplace = fit_head_laplace(model.head, features, data.train.labels, "full")
    spreads = []
    for value in (0.01, 100.0):
        laplace.prior_precision = value
        spreads.append(laplace.sample(200, generator=torch.Generator().manual_seed(0)).std(0).mean())
    assert spreads[1] < spreads[0]


def test_regression_laplace_is_the_exact_linear_gaussian_posterior():
    torch.manual_seed(0)
    features = torch.randn(50, 3, dtype=torch.float64)
    head = torch.nn.Linear(3, 2).double()
    targets = torch.randn(50, 1, dtype=torch.float64)
    (laplace,) = fit_mean_head_laplaces(head, features, targets, "full")
    laplace.prior_precision = 2.0
    variances = head_variances(head, features)[:, 0]
    inputs = torch.cat([features, torch.ones(50, 1, dtype=torch.float64)], 1)
    precision = (inputs.T * (1 / variances)) @ inputs + 2.0 * torch.eye(4, dtype=torch.float64)
    assert torch.allclose(laplace.posterior_covariance, torch.linalg.inv(precision), rtol=1e-6, atol=1e-9)
    assert torch.allclose(laplace.mean, torch.cat([head.weight[0], head.bias[:1]]))


def test_regression_posterior_samples_means_and_keeps_map_variances():
    torch.manual_seed(1)
    recipe = ModelRecipe("mlp", {"hidden": [8]}, (3,), 2, "regression")
    model = recipe.build()
    features_in = torch.randn(40, 3)
    targets = torch.randn(40, 1)
    features = backbone_features(model, features_in)
    laplaces = fit_mean_head_laplaces(model.head, features, targets, "diag")
    posterior = LLLAPosterior(model, laplaces, "nn", "base", "prepared", "diag", "regression")
    outputs = posterior.predict(features_in[:5], 200, torch.Generator().manual_seed(0))
    assert outputs.shape == (200, 5, 2)
    means, variances = outputs[..., :1], outputs[..., 1:]
    map_outputs = LIKELIHOODS["regression"].predictive(model(features_in[:5]))
    assert torch.allclose(variances, map_outputs[None, :, 1:].expand_as(variances))
    assert torch.allclose(means.mean(0), map_outputs[:, :1], atol=0.1)
    assert means.std(0).min() > 0


def test_marginal_likelihood_prior_precision_maximises_the_evidence(trained):
    from bdlsweep.trainables.methods.llla import marginal_likelihood_prior_precision

    data, model = trained
    features = backbone_features(model, data.train.inputs)
    laplace = fit_head_laplace(model.head, features, data.train.labels, "full")
    fitted = marginal_likelihood_prior_precision([laplace])
    assert laplace.prior_precision.numel() == 1 and fitted > 0

    def evidence(precision: float) -> float:
        return float(laplace.log_marginal_likelihood(prior_precision=torch.tensor([precision])))

    best = evidence(fitted)
    for factor in (0.25, 0.5, 2.0, 4.0):
        assert evidence(fitted * factor) <= best + 1e-3


def test_shared_prior_precision_of_regression_outputs_maximises_their_summed_evidence():
    from bdlsweep.trainables.methods.llla import marginal_likelihood_prior_precision

    torch.manual_seed(2)
    features = torch.randn(60, 3)
    head = torch.nn.Linear(3, 4)
    targets = features @ torch.randn(3, 2) + 0.3 * torch.randn(60, 2)
    laplaces = fit_mean_head_laplaces(head, features, targets, "full")
    fitted = marginal_likelihood_prior_precision(laplaces)

    def evidence(precision: float) -> float:
        value = torch.tensor([precision])
        return float(sum(laplace.log_marginal_likelihood(prior_precision=value) for laplace in laplaces))

    assert all(evidence(fitted * factor) <= evidence(fitted) + 1e-3 for factor in (0.25, 0.5, 2.0, 4.0))


def _heteroscedastic_head(seed: int = 3) -> tuple[torch.nn.Linear, torch.Tensor, torch.Tensor]:
    """QM9's head shape, Linear(64 → 2) = 130 weights, trained a little on noisy targets (float64)."""
    torch.manual_seed(seed)
    features = torch.randn(1000, 64, dtype=torch.float64)
    noise = (0.2 + features[:, 1:2].abs()) * torch.randn(1000, 1, dtype=torch.float64)
    targets = features[:, :1] * 0.5 + noise
    head = torch.nn.Linear(64, 2).double()
    optimizer = torch.optim.Adam(head.parameters(), lr=0.01)
    for _ in range(200):
        optimizer.zero_grad()
        LIKELIHOODS["regression"].loss(head(features), targets).backward()
        optimizer.step()
    return head, features, targets


def _exact_negative_log_likelihood(features: torch.Tensor, targets: torch.Tensor):
    """−Σ log N(y; μ, σ²) of a flat (weights, then biases) Linear(F → 2) head, written independently."""

    def negative_log_likelihood(theta: torch.Tensor) -> torch.Tensor:
        weight = theta[: 2 * features.shape[1]].reshape(2, -1)
        outputs = features @ weight.T + theta[2 * features.shape[1] :]
        scale = (torch.nn.functional.softplus(outputs[:, 1:]) + 1e-6).sqrt()
        return -torch.distributions.Normal(outputs[:, :1], scale).log_prob(targets).sum()

    return negative_log_likelihood


@pytest.mark.parametrize("hessian", ["full", "diag"])
def test_whole_head_laplace_is_the_exact_gaussian_nll_laplace_over_all_130_weights(hessian):
    from bdlsweep.trainables.posteriors.head_laplace import fit_whole_head_laplace

    head, features, targets = _heteroscedastic_head()
    laplace = fit_whole_head_laplace(head, features, targets, hessian, batch_size=64)
    theta = torch.cat([head.weight.detach().flatten(), head.bias.detach()])
    negative_log_likelihood = _exact_negative_log_likelihood(features, targets)
    exact = torch.func.hessian(negative_log_likelihood)(theta)
    precision = 1.0 + max(
        0.0, -float(torch.linalg.eigvalsh(exact)[0])
    )  # away from a minimum H may be indefinite
    laplace.prior_precision = precision
    assert laplace.n_params == 130 and torch.equal(laplace.mean, theta)
    if hessian == "diag":
        assert torch.allclose(laplace.posterior_precision, exact.diagonal() + precision, rtol=1e-8)
        return
    posterior_precision = exact + precision * torch.eye(130, dtype=torch.float64)
    assert torch.allclose(laplace.posterior_precision, posterior_precision, rtol=1e-8, atol=1e-10)
    assert torch.allclose(laplace.posterior_covariance, torch.linalg.inv(posterior_precision), rtol=1e-6)
    evidence = (
        -negative_log_likelihood(theta)
        - 0.5 * precision * theta.square().sum()
        - 0.5 * torch.logdet(posterior_precision)
        + 0.5 * 130 * torch.log(torch.tensor(precision, dtype=torch.float64))
    )  # log p(D|θ*) + log p(θ*) + ½·P·log 2π − ½·log det(2π Σ⁻¹)… with the 2π terms cancelled
    assert float(laplace.log_marginal_likelihood()) == pytest.approx(float(evidence), rel=1e-10)


def test_whole_head_posterior_samples_means_and_variances_and_round_trips(tmp_path):
    from bdlsweep.trainables.posteriors.head_laplace import fit_whole_head_laplace, is_gaussian

    head, features, targets = _heteroscedastic_head()
    laplace = fit_whole_head_laplace(head, features, targets, "full")
    laplace.prior_precision = 1.0 + max(0.0, -float(torch.linalg.eigvalsh(laplace.H)[0]))
    assert is_gaussian(laplace)
    model = torch.nn.Module()
    model.head = head
    posterior = LLLAPosterior(model, [laplace], "nn", "base", "prepared", "full", "regression", "whole")
    outputs = posterior.predict_from_features(features[:7], 400, torch.Generator().manual_seed(0))
    assert outputs.shape == (400, 7, 2)
    means, variances = outputs[..., 0], outputs[..., 1]
    assert (variances.std(0) > 0).all() and (variances > 0).all()  # the variance weights are sampled too
    map_outputs = LIKELIHOODS["regression"].predictive(head(features[:7])).detach()
    assert torch.allclose(means.mean(0), map_outputs[:, 0], atol=0.1)
    torch.save(laplace_to_tensors(laplace), tmp_path / "la.pt")
    state = torch.load(tmp_path / "la.pt", weights_only=True)
    restored = laplace_from_tensors(head, "full", state, "regression")
    generator = torch.Generator().manual_seed(1)
    assert torch.equal(
        laplace.sample(3, generator=generator), restored.sample(3, generator=generator.manual_seed(1))
    )


def test_an_exact_hessian_with_a_negative_direction_is_no_gaussian_below_it():
    from bdlsweep.trainables.posteriors.head_laplace import fit_whole_head_laplace, is_gaussian

    head, features, targets = _heteroscedastic_head()
    with torch.no_grad():
        head.bias[1] = 8.0  # variances far above the squared errors: there the NLL is concave in them
    for hessian, curvature in (("full", torch.linalg.eigvalsh), ("diag", lambda diagonal: diagonal)):
        laplace = fit_whole_head_laplace(head, features, targets, hessian)
        lowest = float(curvature(laplace.H).min())
        assert lowest < 0
        laplace.prior_precision = -0.5 * lowest
        assert not is_gaussian(laplace)
        laplace.prior_precision = -2.0 * lowest
        assert is_gaussian(laplace)
    with pytest.raises(ValueError, match=r"regression_head: whole .* use full or diag"):
        fit_whole_head_laplace(head, features, targets, "kron")
