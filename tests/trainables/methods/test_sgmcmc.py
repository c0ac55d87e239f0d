"""SGLD / SGHMC against the closed-form posterior of a Bayesian linear regression."""

import itertools

import numpy as np
import pytest
import torch
from gaussian_checks import assert_gaussian_moments
from repo_paths import ROOT

from bdlsweep.trainables.inference.sgmcmc_optimizer import SGMCMC, cyclical_lr

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


def _samples(
    problem, temperature=1.0, momentum_decay=1.0, lr=2e-3, steps=3000, preconditioning=False, chains=100
):
    """Every 5th state after 2,000 burn-in steps of ``chains`` independent chains, stacked ``[K, 2]``.

    The chains are rows of one parameter: the sampler's noise, momentum and preconditioner act per
    element, and the summed energy's gradient of each row is that chain's own.
    """
    inputs, targets, _, _ = problem
    weights = torch.nn.Parameter(torch.zeros(chains, 2, dtype=torch.float64))
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
        energy = ((targets - weights @ inputs.T) ** 2).sum() / (2 * NOISE_VARIANCE)
        energy.backward()
        sampler.step()
        if step == 2000:
            sampler.set_phase(adapt_preconditioner=False)
        if step >= 2000 and step % 5 == 0:
            kept.append(weights.detach().clone())
    return torch.cat(kept)


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


def test_cyclical_step_size_is_a_cosine_that_restarts_every_cycle():
    sizes = np.array([cyclical_lr(2.0, step, 10) for step in range(20)])
    within = np.arange(20) % 10 / 10  # Zhang et al. (2020), eq. 1: α = α₀/2 · (cos(π · position) + 1)
    np.testing.assert_allclose(sizes, 2.0 / 2 * (np.cos(np.pi * within) + 1), rtol=1e-12)
    assert sizes[0] == sizes[10] == 2.0 and sizes[2] == pytest.approx(1.809017, abs=1e-6)  # linear: 1.6
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
    from bdlsweep.trainables.methods.sgmcmc import SGMCMCPosterior
    from bdlsweep.trainables.posteriors.base import ModelRecipe

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
def test_digits_sampling_sweep_runs_every_sampling_method(tmp_path, ray_session):

    from bdlsweep.analysis import results
    from bdlsweep.sweeps.pipeline import run_sweep
    from bdlsweep.sweeps.spec.loading import load_spec

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
        "stages.hmc.iterations=5",
        "stages.hmc.burn_in=2",
        "stages.vi.epochs=2",
        "stages.vi.search.prior_variance=[1.0]",
        "stages.vi.estimator=flipout",
        "stages.packed.epochs=2",
        "stages.subspace.rank=2",
        "stages.subspace.iterations=4",
        "stages.subspace.burn_in=1",
        "stages.subspace_vi.rank=2",
        "stages.subspace_vi.epochs=2",
        "evaluate.ensemble_sizes=[1,2]",
        "evaluate.ensembles_per_size=1",
        "evaluate.num_posterior_samples=4",
        "evaluate.subsample_sizes=[2,4]",
        "evaluate.splits=[test]",  # the shift and OOD sets' evaluation is the same for every method
        "evaluate.reference=hmc",  # every method measured against the HMC chains' predictive
    ]
    spec = load_spec(ROOT / "sweeps" / "digits_sampling.yaml", overrides)
    outcome = run_sweep(spec)
    frame = outcome.ensembles
    test = frame[frame["split"] == "test"]
    methods = {"map", "swag", "sgld", "csghmc", "hmc", "vi", "packed", "subspace", "subspace_vi"}
    assert set(test["method"]) == methods
    ess_chains = results.trials(outcome.storage, "subspace")
    assert len(ess_chains) == 4 and (ess_chains["kept_samples"] == 3).all()  # 2 seeds x 2 temperatures
    assert (ess_chains["likelihood_evaluations"] >= 1).all()
    assert set(test[test["method"] == "packed"]["num_samples"]) == {2, 4}
    chains = results.trials(outcome.storage, "hmc")
    assert len(chains) == 2 and chains["acceptance_rate"].between(0, 1).all()
    assert (chains["kept_samples"] == 3).all() and (chains["leapfrog_steps"] >= 1).all()
    assert set(test[test["method"] == "sgld"]["num_samples"]) == {2, 4}
    trained = test[test["method"] != "hmc"]  # a 5-iteration chain from a random start has not moved far
    assert trained["test_acc"].min() > 0.15  # above chance (0.1) after a few epochs
    assert test[test["method"] == "hmc"]["test_elpd"].notna().all()
    import mlflow

    mlflow.set_tracking_uri(spec.tracking_uri)
    runs = mlflow.search_runs(experiment_names=[spec.experiment])
    for stage in (
        "sgld",
        "csghmc",
        "hmc",
        "vi",
        "packed",
        "subspace",
        "subspace_vi",
    ):  # one MLflow run per trial
        logged = runs[runs["tags.stage"] == stage]
        assert sorted(logged["tags.trial_id"]) == sorted(results.trials(outcome.storage, stage)["trial_id"])
        assert logged["metrics.val_elpd"].notna().all()
    _check_closeness_to_hmc(outcome, test)
    table = outcome.table_files["markdown"].read_text()
    assert (
        "| 1 | Subspace |" in table
        and "| 1 | sgld |" in table
        and "| 2 | csghmc |" in table
        and "| 2 | HMC |" in table
    )


def _hmc_chain(problem, iterations=2000, burn_in=400, temperature=1.0):
    from bdlsweep.trainables.inference.hmc_kernel import DualAveraging, hmc_iteration

    inputs, targets, _, _ = problem

    def energy_and_gradient(weights):
        residual = targets - inputs @ weights
        energy = (residual**2).sum() / (2 * NOISE_VARIANCE) + (weights**2).sum() / (2 * PRIOR_VARIANCE)
        gradient = -inputs.T @ residual / NOISE_VARIANCE + weights / PRIOR_VARIANCE
        return energy, gradient

    generator = torch.Generator().manual_seed(2)
    position = torch.zeros(2, dtype=torch.float64)
    energy, gradient = energy_and_gradient(position)
    adaptation = DualAveraging(0.05, target=0.8)
    step_size, kept, accepted = 0.05, [], []
    for iteration in range(iterations):
        result = hmc_iteration(
            position, energy, gradient, energy_and_gradient, step_size, 0.3, 100, temperature, generator
        )
        position, energy, gradient = result.position, result.energy, result.gradient
        if iteration < burn_in:
            step_size = adaptation.update(result.accept_probability)
            if iteration == burn_in - 1:
                step_size = adaptation.final_step_size
        else:
            kept.append(position)
            accepted.append(result.accepted)
    return torch.stack(kept), sum(accepted) / len(accepted)


def test_hmc_matches_the_closed_form_posterior_and_adapts_to_the_target_acceptance(problem):
    _, _, mean, covariance = problem
    samples, acceptance = _hmc_chain(problem)
    assert 0.6 < acceptance < 0.97
    assert_gaussian_moments(samples, mean, covariance)
    cold, _ = _hmc_chain(problem, temperature=0.1)
    assert_gaussian_moments(cold, mean, 0.1 * covariance)


def test_mean_field_vi_recovers_means_and_the_mean_field_variances(problem):
    from bdlsweep.trainables.inference.mean_field import MeanField, negative_elbo

    independent, targets, _, _ = problem
    inputs = independent @ torch.tensor([[1.0, 0.9], [0.0, 0.45]], dtype=torch.float64)  # correlated features
    precision = inputs.T @ inputs / NOISE_VARIANCE + torch.eye(2, dtype=torch.float64) / PRIOR_VARIANCE
    covariance = torch.linalg.inv(precision)
    mean = covariance @ inputs.T @ targets / NOISE_VARIANCE
    model = torch.nn.Linear(2, 1, bias=False).double()
    q = MeanField(torch.zeros(2, dtype=torch.float64), initial_std=0.05)
    optimizer = torch.optim.Adam(q.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(3)

    def squared_error(outputs, labels):
        return ((outputs.squeeze(-1) - labels) ** 2).mean() / (2 * NOISE_VARIANCE)

    for step in range(4000):
        optimizer.zero_grad()
        negative_elbo(model, q, inputs, targets, squared_error, 40, 1.0, PRIOR_VARIANCE, generator).backward()
        if step == 3000:
            optimizer.param_groups[0]["lr"] = 0.002
        optimizer.step()
    mean_field_variance = 1 / precision.diag()  # the KL(q‖p) optimum: 1/A_ii ≤ Σ_ii
    assert (mean_field_variance < 0.5 * covariance.diag()).all()
    assert torch.allclose(q.mean.detach(), mean, atol=0.03)
    variance = q.std.detach() ** 2
    assert torch.allclose(variance, mean_field_variance, rtol=0.2)


def test_network_energy_is_the_exact_full_batch_energy_and_gradient(problem):
    from bdlsweep.trainables.inference.network_energy import full_batch_energy

    inputs, targets, _, _ = problem

    class KnownNoise:
        def loss(self, outputs, labels):
            return ((outputs.squeeze(-1) - labels) ** 2).mean() / (2 * NOISE_VARIANCE)

    model = torch.nn.Linear(2, 1, bias=False).double()
    energy_and_gradient = full_batch_energy(model, inputs, targets, KnownNoise(), PRIOR_VARIANCE)
    weights = torch.tensor([0.3, -0.7], dtype=torch.float64)
    energy, gradient = energy_and_gradient(weights)
    residual = targets - inputs @ weights
    expected = (residual**2).sum() / (2 * NOISE_VARIANCE) + (weights**2).sum() / (2 * PRIOR_VARIANCE)
    assert energy.item() == pytest.approx(expected.item(), rel=1e-12)
    assert torch.allclose(gradient, -inputs.T @ residual / NOISE_VARIANCE + weights / PRIOR_VARIANCE)


def _check_closeness_to_hmc(outcome, test) -> None:
    """Every test row is measured against HMC's two-chain predictive, which HMC's own K = 2 ensemble at all
    its samples matches exactly; the two chains against each other are the ceiling, in the table's caption."""
    import io

    import pandas as pd

    from bdlsweep.storage.layout import SweepLayout

    assert test["test_agreement"].between(0, 1).all() and test["test_total_variation"].between(0, 1).all()
    largest = test[
        test["num_samples"] == test.groupby(["method", "K", "ensemble_id"])["num_samples"].transform("max")
    ]
    (itself,) = largest[(largest["method"] == "hmc") & (largest["K"] == 2)].itertuples()
    assert itself.test_agreement == 1.0 and itself.test_total_variation == pytest.approx(0, abs=1e-12)
    others = largest[(largest["method"] != "hmc") | (largest["K"] != 2)]
    assert (others["test_total_variation"] > 0).all()
    ceiling = pd.read_csv(io.StringIO(SweepLayout(outcome.storage).reference_ceiling.read_text()))
    assert ceiling[["method", "seed_a", "seed_b"]].values.tolist() == [["hmc", 1, 2]]
    caption = outcome.table_files["markdown"].read_text().splitlines()[0]
    assert caption.startswith("Agree, TV: each test predictive against the reference posterior's, HMC")
    assert f"Agree {ceiling['agreement'].iloc[0]:.3f}" in caption
