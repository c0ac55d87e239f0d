"""SGLD / SGHMC against the closed-form posterior of a Bayesian linear regression."""

import itertools

import pytest
import torch

from bdlsweep.trainables.sgmcmc_sampler import SGMCMC, cyclical_lr

NOISE_VARIANCE = 0.25
PRIOR_VARIANCE = 2.0


def linear_regression():
    """Inputs, targets and the closed-form Gaussian posterior (mean, covariance) of the weights."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(40, 2, generator=generator, dtype=torch.float64)
    targets = inputs @ torch.tensor([1.0, -0.5], dtype=torch.float64) + 0.5 * torch.randn(
        40, generator=generator, dtype=torch.float64
    )
    precision = inputs.T @ inputs / NOISE_VARIANCE + torch.eye(2, dtype=torch.float64) / PRIOR_VARIANCE
    covariance = torch.linalg.inv(precision)
    mean = covariance @ inputs.T @ targets / NOISE_VARIANCE
    return inputs, targets, mean, covariance


@pytest.fixture(scope="module")
def problem():
    return linear_regression()


def _samples(problem, temperature=1.0, momentum_decay=1.0, lr=2e-3, steps=30000, preconditioning=False):
    inputs, targets, _, _ = problem
    weights = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    sampler = SGMCMC(
        [weights],
        lr=lr,
        momentum_decay=momentum_decay,
        temperature=temperature,
        prior_precision=1 / PRIOR_VARIANCE,
        preconditioning=preconditioning,
        generator=torch.Generator().manual_seed(1),
    )
    kept = []
    for step in range(steps):
        sampler.zero_grad()
        energy = ((targets - inputs @ weights) ** 2).sum() / (2 * NOISE_VARIANCE)
        energy.backward()
        sampler.step()
        if step == 2000:
            sampler.set_phase(adapt_preconditioner=False)
        if step >= 2000 and step % 5 == 0:
            kept.append(weights.detach().clone())
    return torch.stack(kept)


def test_sgld_matches_the_closed_form_posterior(problem):
    _, _, mean, covariance = problem
    samples = _samples(problem)
    assert torch.allclose(samples.mean(0), mean, atol=0.04)
    assert torch.allclose(torch.cov(samples.T), covariance, rtol=0.25, atol=2e-4)


def test_temperature_scales_the_covariance(problem):
    _, _, mean, covariance = problem
    samples = _samples(problem, temperature=0.25)
    assert torch.allclose(samples.mean(0), mean, atol=0.03)
    assert torch.allclose(torch.cov(samples.T), 0.25 * covariance, rtol=0.25, atol=1e-4)


def test_sghmc_and_preconditioned_sgld_match_the_posterior(problem):
    _, _, mean, covariance = problem
    for samples in (
        _samples(problem, momentum_decay=0.1, lr=2e-5),
        _samples(problem, preconditioning=True, lr=2e-3),
    ):
        assert torch.allclose(samples.mean(0), mean, atol=0.03)
        assert torch.allclose(torch.cov(samples.T), covariance, rtol=0.2, atol=2e-4)


def test_zero_temperature_is_gradient_descent_to_the_posterior_mode(problem):
    _, _, mean, _ = problem
    samples = _samples(problem, temperature=0.0, steps=2100)
    assert torch.allclose(samples[-1], mean, atol=1e-6)


def test_cyclical_step_size_restarts_every_cycle():
    sizes = [cyclical_lr(1.0, step, 10) for step in range(20)]
    assert sizes[0] == sizes[10] == 1.0
    assert sizes[5] == pytest.approx(0.5) and min(sizes) == pytest.approx(cyclical_lr(1.0, 9, 10))
    assert all(a > b for a, b in itertools.pairwise(sizes[:10]))


def test_cyclical_sampler_explores_without_noise_then_samples_with_it():
    weights = torch.nn.Parameter(torch.zeros(3))
    sampler = SGMCMC(
        [weights], lr=0.01, cycle_steps=10, exploration=0.5, generator=torch.Generator().manual_seed(0)
    )
    moved = []
    for _ in range(10):
        before = weights.detach().clone()
        weights.grad = torch.zeros(3)
        sampler.step()
        moved.append(bool((weights != before).any()))
    assert moved == [False] * 5 + [True] * 5


def test_posterior_replays_its_samples_and_round_trips(tmp_path):
    from bdlsweep.trainables.posterior import ModelRecipe
    from bdlsweep.trainables.sgmcmc import SGMCMCPosterior

    recipe = ModelRecipe("mlp", {"hidden": [4]}, (3,), 2)
    model = recipe.build()
    samples = torch.randn(
        3, sum(p.numel() for p in model.parameters()), generator=torch.Generator().manual_seed(0)
    )
    posterior = SGMCMCPosterior(model, recipe, samples)
    inputs = torch.randn(5, 3)
    outputs = posterior.predict(inputs, 6, torch.Generator().manual_seed(1))
    assert outputs.shape == (6, 5, 2)
    distinct = {tuple(row.flatten().round(decimals=5).tolist()) for row in outputs}
    assert len(distinct) == 3
    loaded = SGMCMCPosterior.load(posterior.save(tmp_path / "posterior"))
    assert torch.equal(loaded.samples, samples)
    again = loaded.predict(inputs, 6, torch.Generator().manual_seed(1))
    assert torch.allclose(again, outputs)


@pytest.mark.slow
def test_digits_sampling_sweep_runs_sgld_and_cyclical_sghmc(tmp_path, ray_session):
    from pathlib import Path

    from bdlsweep.sweeps.pipeline import run_sweep
    from bdlsweep.sweeps.spec import load_spec

    overrides = [
        f"storage={tmp_path / 'sampling'}",
        "seeds=[1,2]",
        "stages.map.epochs=2",
        "stages.swag.epochs=2",
        "stages.swag.rank=2",
        "stages.swag.search.lr=[0.01]",
        "stages.sgld.epochs=4",
        "stages.sgld.burn_in=2",
        "stages.sgld.search.lr=[3.0e-5]",
        "stages.csghmc.epochs=6",
        "stages.csghmc.search.temperature=[1.0]",
        "evaluate.ensemble_sizes=[1,2]",
        "evaluate.ensembles_per_size=1",
        "evaluate.num_posterior_samples=4",
        "evaluate.subsample_sizes=[2,4]",
    ]
    outcome = run_sweep(load_spec(Path(__file__).parents[1] / "sweeps" / "digits_sampling.yaml", overrides))
    frame = outcome.ensembles
    test = frame[frame["split"] == "test"]
    assert set(test["method"]) == {"map", "swag", "sgld", "csghmc"}
    assert set(test[test["method"] == "sgld"]["num_samples"]) == {2, 4}
    assert test["test_acc"].min() > 0.15  # above chance (0.1) after a few epochs
    table = outcome.table_files["markdown"].read_text()
    assert "| 1 | sgld |" in table and "| 2 | csghmc |" in table
