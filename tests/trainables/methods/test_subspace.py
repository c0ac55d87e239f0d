"""Subspace inference: PCA / random subspaces, elliptical slice sampling and VI against closed forms."""

import math

import pytest
import torch
from gaussian_checks import assert_gaussian_moments

from bdlsweep.trainables.inference.elliptical_slice import elliptical_slice_step
from bdlsweep.trainables.inference.subspace_gaussian import SubspaceGaussian, negative_elbo
from bdlsweep.trainables.inference.weight_subspaces import pca_subspace, random_subspace

PRIOR_STD = 2.0
LIKELIHOOD_MEAN = torch.tensor([1.0, -0.5], dtype=torch.float64)
LIKELIHOOD_COVARIANCE = torch.tensor([[0.5, 0.3], [0.3, 0.4]], dtype=torch.float64)


def gaussian_log_likelihood(coordinates):
    """log N(m; z, C) up to a constant: a Gaussian likelihood centred on LIKELIHOOD_MEAN."""
    residual = coordinates - LIKELIHOOD_MEAN
    return -0.5 * residual @ torch.linalg.solve(LIKELIHOOD_COVARIANCE, residual)


def closed_form_posterior(temperature=1.0):
    """Mean and covariance of N(0, σ²I) × N(z; m, C)^(1/T)."""
    likelihood_precision = torch.linalg.inv(LIKELIHOOD_COVARIANCE) / temperature
    covariance = torch.linalg.inv(torch.eye(2, dtype=torch.float64) / PRIOR_STD**2 + likelihood_precision)
    return covariance @ likelihood_precision @ LIKELIHOOD_MEAN, covariance


def test_elliptical_slice_sampling_recovers_a_2d_gaussian_posterior():
    generator = torch.Generator().manual_seed(0)
    position = torch.zeros(2, dtype=torch.float64)
    current = float(gaussian_log_likelihood(position))
    kept, evaluations = [], 0
    for iteration in range(8000):
        step = elliptical_slice_step(
            position, current, lambda z: float(gaussian_log_likelihood(z)), PRIOR_STD, generator
        )
        position, current = step.position, step.log_likelihood
        evaluations += step.evaluations
        if iteration >= 500:
            kept.append(position)
    mean, covariance = closed_form_posterior()
    assert_gaussian_moments(torch.stack(kept), mean, covariance, rtol=0.1, correlation_atol=0.05)
    assert 1 < evaluations / 8000 < 10  # the bracket shrinks, but not without end


def test_elliptical_slice_step_always_moves_and_lands_above_the_slice():
    generator = torch.Generator().manual_seed(1)
    start = torch.tensor([0.3, 0.2], dtype=torch.float64)
    current = float(gaussian_log_likelihood(start))
    step = elliptical_slice_step(start, current, lambda z: float(gaussian_log_likelihood(z)), 1.0, generator)
    assert not torch.equal(step.position, start)
    assert step.log_likelihood == pytest.approx(float(gaussian_log_likelihood(step.position)))


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_subspace_vi_recovers_the_gaussian_posterior_and_its_temperature(temperature):
    torch.manual_seed(0)
    q = SubspaceGaussian(2, initial_std=0.3).double()
    optimizer = torch.optim.Adam(q.parameters(), lr=0.02)
    generator = torch.Generator().manual_seed(2)
    for step in range(5000):
        optimizer.zero_grad()
        negative_elbo(q, gaussian_log_likelihood, PRIOR_STD, temperature, generator).backward()
        if step in (2500, 4000):
            optimizer.param_groups[0]["lr"] /= 10
        optimizer.step()
    mean, covariance = closed_form_posterior(temperature)
    fitted_covariance = (q.scale_tril @ q.scale_tril.T).detach()
    assert torch.allclose(q.mean.detach(), mean, atol=0.1 * covariance.diag().sqrt().min())
    assert torch.allclose(fitted_covariance, covariance, atol=0.08 * covariance.diag().max())


def test_subspace_gaussian_kl_matches_the_closed_form():
    q = SubspaceGaussian(3, initial_std=0.5)
    with torch.no_grad():
        q.mean.copy_(torch.tensor([0.1, -0.2, 0.3]))
        q.off_diagonal.copy_(torch.tensor([[0.0, 0, 0], [0.2, 0, 0], [-0.1, 0.3, 0]]))
    covariance = q.scale_tril @ q.scale_tril.T
    sigma2 = 1.5**2
    expected = 0.5 * (
        covariance.trace() / sigma2
        + q.mean @ q.mean / sigma2
        - 3
        + 3 * math.log(sigma2)
        - covariance.logdet()
    )
    assert q.kl_to_prior(1.5).item() == pytest.approx(expected.item(), rel=1e-5)


def test_pca_subspace_reproduces_the_swag_low_rank_covariance():
    generator = torch.Generator().manual_seed(3)
    deviations = torch.randn(30, 6, generator=generator, dtype=torch.float64)
    deviations -= deviations.mean(1, keepdim=True)  # SWAG deviations are centred snapshots
    shift = torch.randn(30, generator=generator, dtype=torch.float64)
    full = pca_subspace(shift, deviations, rank=6)
    assert torch.allclose(full.basis.T @ full.basis, deviations @ deviations.T / 5, atol=1e-10)
    leading = pca_subspace(shift, deviations, rank=3)
    gram = leading.basis @ leading.basis.T
    assert torch.allclose(gram, torch.diag(gram.diag()), atol=1e-10)  # orthogonal directions
    assert (gram.diag()[:-1] >= gram.diag()[1:]).all()  # by decreasing variance
    coordinates = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    assert torch.allclose(leading.weights(coordinates), shift + coordinates @ leading.basis)
    with pytest.raises(ValueError, match="rank 7 exceeds the 6 SWAG snapshots"):
        pca_subspace(shift, deviations, rank=7)


def test_random_subspace_has_orthonormal_directions():
    shift = torch.zeros(50)
    subspace = random_subspace(shift, 5, torch.Generator().manual_seed(4))
    assert subspace.rank == 5
    assert torch.allclose(subspace.basis @ subspace.basis.T, torch.eye(5), atol=1e-5)
    again = random_subspace(shift, 5, torch.Generator().manual_seed(4))
    assert torch.equal(subspace.basis, again.basis)


@pytest.mark.parametrize(
    "coordinates",
    [
        {"samples": torch.randn(4, 3, generator=torch.Generator().manual_seed(5))},
        {"mean": torch.tensor([0.2, 0.0, -0.1]), "scale_tril": 0.3 * torch.eye(3)},
    ],
    ids=["ess-samples", "vi-gaussian"],
)
def test_subspace_posterior_maps_coordinates_to_weights_and_round_trips(coordinates, tmp_path):
    from bdlsweep.trainables.methods.subspace import SubspacePosterior
    from bdlsweep.trainables.posteriors.base import ModelRecipe

    recipe = ModelRecipe("mlp", {"hidden": [8]}, (5,), 3)
    model = recipe.build()
    count = sum(p.numel() for p in model.parameters())
    subspace = random_subspace(torch.randn(count), 3, torch.Generator().manual_seed(6))
    posterior = SubspacePosterior(model, recipe, subspace, coordinates)
    draws = list(posterior.coordinate_samples(6, torch.Generator().manual_seed(7)))
    weights = list(posterior.weight_samples(6, torch.Generator().manual_seed(7)))
    for draw, weight in zip(draws, weights, strict=True):
        assert torch.allclose(weight, subspace.shift + draw @ subspace.basis)
    if "samples" in coordinates:  # stored ESS samples are replayed, each at most once per round
        assert all(any(torch.equal(d, s) for s in coordinates["samples"]) for d in draws)
    inputs = torch.randn(10, 5)
    outputs = posterior.predict(inputs, 6, torch.Generator().manual_seed(8))
    assert outputs.shape == (6, 10, 3)
    assert torch.allclose(outputs.exp().sum(-1), torch.ones(6, 10), atol=1e-5)
    loaded = SubspacePosterior.load(posterior.save(tmp_path / "subspace"))
    assert torch.allclose(loaded.predict(inputs, 6, torch.Generator().manual_seed(8)), outputs)
