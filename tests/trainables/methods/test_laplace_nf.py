"""LA-NF: consistent nflows transforms; the flow beats the Laplace Gaussian on a known posterior."""

import pytest
import torch
from torch.nn import functional as F

from bdlsweep.trainables.inference.flows import GaussianBaseMap, GaussianFlow
from bdlsweep.trainables.methods.laplace_nf import (
    LANFPosterior,
    LANFSettings,
    _flow,
    fit_elbo,
    gaussian_log_prior,
)
from bdlsweep.trainables.methods.map import MAPPosterior
from bdlsweep.trainables.posteriors.base import ModelRecipe
from bdlsweep.trainables.posteriors.checkpoint import write_checkpoint

MEAN = torch.tensor([1.0, -1.0, 0.5])
SCALE = torch.tensor([[1.0, 0.0, 0.0], [0.5, 2.0, 0.0], [0.1, -0.3, 0.5]])


def test_base_map_is_the_laplace_gaussian():
    for scale, reference in [
        (SCALE, torch.distributions.MultivariateNormal(MEAN, scale_tril=SCALE)),
        (
            SCALE.diagonal(),
            torch.distributions.Independent(torch.distributions.Normal(MEAN, SCALE.diagonal()), 1),
        ),
    ]:
        flow = GaussianFlow("radial", 0, GaussianBaseMap(MEAN, scale))
        samples, log_q = flow.sample(50, torch.Generator().manual_seed(0))
        assert torch.allclose(log_q, reference.log_prob(samples), atol=1e-5)


@pytest.mark.parametrize("kind", ["radial", "maf", "rq_spline"])
def test_sampling_log_density_matches_density_evaluation(kind):
    torch.manual_seed(0)
    flow = GaussianFlow(kind, 3, GaussianBaseMap(MEAN, SCALE))
    if kind == "radial":
        with torch.no_grad():
            for parameter in flow.parameters():
                parameter.add_(torch.randn_like(parameter) * 0.5)
    samples, log_q = flow.sample(20, torch.Generator().manual_seed(0))
    assert torch.allclose(flow.log_prob(samples), log_q, atol=1e-4)


def test_radial_layers_start_as_the_identity():
    flow = GaussianFlow("radial", 5, GaussianBaseMap(MEAN, SCALE))
    base = GaussianFlow("radial", 0, GaussianBaseMap(MEAN, SCALE))
    first = flow.sample(10, torch.Generator().manual_seed(0))
    second = base.sample(10, torch.Generator().manual_seed(0))
    assert torch.allclose(first[0], second[0]) and torch.allclose(first[1], second[1])


def _logistic_problem():
    generator = torch.Generator().manual_seed(3)
    inputs = torch.randn(8, 2, generator=generator, dtype=torch.float64)
    noise = 0.3 * torch.randn(8, generator=generator, dtype=torch.float64)
    labels = (inputs @ torch.tensor([3.0, -2.0], dtype=torch.float64) + noise > 0).double()

    def log_likelihood(theta, x, y):
        return F.logsigmoid((2 * y - 1)[None, :] * (theta @ x.T)).sum(-1)

    return inputs, labels, log_likelihood


def test_flow_is_closer_to_the_true_posterior_than_laplace():
    inputs, labels, log_likelihood = _logistic_problem()
    precision = 0.5
    axis = torch.linspace(-10, 15, 500, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    weights = torch.softmax(log_likelihood(grid, inputs, labels) + gaussian_log_prior(grid, precision), 0)
    mean_ref = weights @ grid
    cov_ref = ((grid - mean_ref).T * weights) @ (grid - mean_ref)

    theta = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    for _ in range(30):
        loss = -(
            log_likelihood(theta[None], inputs, labels) + gaussian_log_prior(theta[None], precision)
        ).sum()
        gradient = torch.autograd.grad(loss, theta, create_graph=True)[0]
        hessian = torch.stack(
            [torch.autograd.grad(gradient[i], theta, retain_graph=True)[0] for i in range(2)]
        )
        with torch.no_grad():
            theta -= torch.linalg.solve(hessian, gradient)
    mean_la, cov_la = theta.detach(), torch.linalg.inv(hessian.detach())

    def error(mean, cov):
        return float((mean - mean_ref).norm() + (cov - cov_ref).norm())

    torch.manual_seed(0)
    flow = GaussianFlow("radial", 10, GaussianBaseMap(mean_la, torch.linalg.cholesky(cov_la))).double()
    fit_elbo(
        flow,
        log_likelihood,
        lambda: [(inputs, labels)],
        8,
        precision,
        1500,
        1e-2,
        torch.Generator().manual_seed(0),
    )
    with torch.no_grad():
        samples, _ = flow.sample(40000, torch.Generator().manual_seed(1))
    flow_error = error(samples.mean(0), torch.cov(samples.T))
    assert error(mean_la, cov_la) > 0.2
    assert flow_error < 0.6 * error(mean_la, cov_la)


def test_posterior_round_trip(tmp_path):
    torch.manual_seed(0)
    recipe = ModelRecipe("mlp", {"hidden": [6]}, (1, 8, 8), 3)
    base = MAPPosterior(recipe.build(), recipe).save(tmp_path / "map")
    dim = 6 * 3 + 3
    gaussian = {"mean": torch.randn(dim), "scale_tril": torch.eye(dim) * 0.1}
    prepared = write_checkpoint(
        tmp_path / "prepared", {"base": str(base), "likelihood": "classification"}, gaussian
    )
    settings = LANFSettings(num_transforms=2, flow="planar")
    flow = _flow(settings, gaussian)
    with torch.no_grad():
        for parameter in flow.parameters():
            parameter.add_(0.1)
    posterior = LANFPosterior(MAPPosterior.load(base).model, flow, settings, str(base), str(prepared))
    posterior.save(tmp_path / "lanf")
    loaded = LANFPosterior.load(tmp_path / "lanf")
    inputs = torch.rand(5, 1, 8, 8)
    first = posterior.predict(inputs, 4, torch.Generator().manual_seed(2))
    assert first.shape == (4, 5, 3)
    assert torch.allclose(first, loaded.predict(inputs, 4, torch.Generator().manual_seed(2)))
