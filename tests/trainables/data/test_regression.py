"""Regression: the Gaussian likelihood, the offline regression sets, and a tiny regression sweep."""

import json
import logging
import math

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from repo_paths import ROOT
from torch.nn import functional as F

from bdlsweep.analysis import results
from bdlsweep.cli import main
from bdlsweep.sweeps.pipeline import run_sweep
from bdlsweep.sweeps.reading.errors import SpecError
from bdlsweep.sweeps.spec.loading import load_spec
from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.inference.likelihoods import LIKELIHOODS
from bdlsweep.trainables.posteriors.checkpoint import read_metadata

REGRESSION = ROOT / "sweeps" / "regression_quickstart.yaml"


def test_gaussian_loss_is_the_closed_form_negative_log_likelihood():
    likelihood = LIKELIHOODS["regression"]
    outputs = torch.tensor([[0.5, -1.0, 0.2, 0.3], [1.5, 2.0, -0.4, 1.0]])
    targets = torch.tensor([[0.0, -2.0], [1.0, 2.5]])
    mean, variance = outputs[:, :2], F.softplus(outputs[:, 2:]) + 1e-6
    per_point = 0.5 * (torch.log(2 * math.pi * variance) + (targets - mean) ** 2 / variance).sum(1)
    assert likelihood.loss(outputs, targets).item() == pytest.approx(per_point.mean().item(), rel=1e-5)
    predictive = likelihood.predictive(outputs)
    assert torch.allclose(predictive[:, :2], mean) and torch.allclose(predictive[:, 2:], variance)


def test_classification_loss_is_cross_entropy():
    outputs, targets = torch.randn(5, 3), torch.tensor([0, 2, 1, 1, 0])
    likelihood = LIKELIHOODS["classification"]
    assert likelihood.loss(outputs, targets).item() == pytest.approx(F.cross_entropy(outputs, targets).item())


@pytest.mark.parametrize("name", ["diabetes", "gap_1d", "regression_1d"])
def test_regression_sets_are_standardised_with_ood_inputs(name):
    data = load_dataset(name, {})
    assert data.likelihood == "regression" and data.target_size == 1
    assert abs(data.train.labels.mean().item()) < 1e-5
    assert data.train.labels.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-4)
    assert data.train.inputs.shape[1:] == data.test.inputs.shape[1:]
    ood = next(iter(data.ood.values()))
    assert ood.shape[1:] == data.test.inputs.shape[1:]
    assert len(data.shift) == 5


def test_regression_1d_uses_the_papers_features_and_scaling():
    raw = np.load(ROOT / "trainables" / "data" / "regression_1d.npz")
    data = load_dataset("regression_1d", {})
    assert len(data.train) + len(data.val) == 60 and len(data.test) == 100
    test_x = raw["x_"]
    standardised = data.test.inputs.numpy()
    ratio = np.corrcoef(standardised[:, 1], test_x**2)[0, 1]
    assert ratio == pytest.approx(1.0, abs=1e-6)
    assert np.corrcoef(data.test.labels.numpy().ravel(), raw["y_"].ravel())[0, 1] == pytest.approx(
        1.0, abs=1e-6
    )


def test_regression_quickstart_names_every_method():
    spec = load_spec(REGRESSION)
    assert {stage.method for stage in spec.stages.values()} == {
        "map",
        "swag",
        "llla",
        "laplace_nf",
        "mc_dropout",
    }
    with pytest.raises(SpecError, match=r"stages\.llla\.predictive"):
        load_spec(REGRESSION, ["stages.llla.predictive=probits"])


@pytest.mark.slow
def test_tiny_regression_sweep(tmp_path, ray_session, capsys, caplog):
    spec = load_spec(
        REGRESSION,
        [
            f"storage={tmp_path}",
            "seeds=[1,2]",
            "~stages.map.epochs",
            "stages.map.steps=25",  # 292 training examples in batches of 32: 10 steps an epoch, 3 epochs
            "stages.swag.epochs=2",
            "stages.swag.rank=2",
            "stages.swag.search.lr=[0.003]",
            "stages.llla.search.prior_precision=[0.1,10]",
            "stages.map.refit=true",  # the UCI protocol: selected, then trained on train + validation
            "stages.swag.refit=true",
            "stages.llla.refit=true",
            "stages.laplace_nf.epochs=2",
            "stages.laplace_nf.search.num_transforms=[2]",
            "stages.laplace_nf.search.prior_precision=[1]",
            "stages.mc_dropout.epochs=2",
            "stages.mc_dropout.search.dropout=[0.1]",
            "evaluate.ensemble_sizes=[1,2]",
            "evaluate.ensembles_per_size=1",
            "evaluate.num_posterior_samples=4",
            "evaluate.subsample_sizes=[2,4]",
        ],
    )
    outcome = run_sweep(spec)
    frame = results.ensembles(tmp_path)
    assert {"test_elpd", "test_rmse", "test_crps", "test_coverage_90", "shift_rmse", "ood_auroc"} <= set(
        frame.columns
    )
    test = frame[frame["split"] == "test"]
    data = load_dataset(spec.dataset, spec.dataset_options)
    scale = data.target_scale
    assert scale > 10 and test["test_rmse"].between(0.1 * scale, 5 * scale).all()
    assert set(test[test["method"] == "swag"]["num_samples"]) == {2, 4}
    assert set(test["method"]) == {"map", "swa", "swag", "llla", "laplace_nf", "mc_dropout"}
    assert "RMSE" in outcome.table_files["markdown"].read_text()
    trials = results.trials(tmp_path, "map")
    assert {"val_elpd", "val_rmse", "val_nll"} <= set(trials.columns)
    assert len(data.train) == 292 and (trials["epoch"] == 3).all()
    _check_refits(spec, outcome, capsys, caplog)


def _check_refits(spec, outcome, capsys, caplog) -> None:
    """Each selection of a ``refit: true`` stage was trained again (MAP for its kept epochs, LLLA's
    Hessian around MAP's refit), recorded and evaluated; LA-NF (no refit) kept LLLA's selection; a
    second run repeats nothing."""
    assert set(outcome.refits) == {"map", "swag", "swa", "llla"}
    for label, refit in outcome.refits.items():
        selected = outcome.selections[label]
        for seed, member in refit.members.items():
            assert member.metrics["refit_of"] == selected.members[seed].trial_id
            assert member.metrics["val_elpd"] == selected.members[seed].metrics["val_elpd"]  # selection's
            assert f"/{selected.stage}/refit/" in member.checkpoint
    for seed, member in outcome.refits["map"].members.items():
        assert member.config["epochs"] == outcome.selections["map"].members[seed].metrics["epoch"]
        prepared = read_metadata(str(spec.layout.refit_prepared("llla", seed)))
        assert prepared["base"] == member.checkpoint
    stored = json.loads(spec.layout.refit_selection("swag").read_text())
    assert stored["members"]["1"]["checkpoint"].startswith("swag/refit/")  # relative to the storage root
    evaluated = json.loads(spec.layout.evaluation_settings.read_text())["members"]
    for label in ("map", "swag", "llla", "laplace_nf"):
        chosen = (outcome.refits.get(label) or outcome.selections[label]).checkpoints()
        assert evaluated[label] == {str(seed): spec.layout.relative(chosen[seed]) for seed in chosen}

    mlflow.set_tracking_uri(spec.tracking_uri)
    runs = mlflow.search_runs(experiment_names=[spec.experiment])
    refit_runs = runs[runs["tags.refit"] == "true"]
    assert sorted(refit_runs["tags.stage"]) == ["llla"] * 2 + ["map"] * 2 + ["swag"] * 2  # SWA: SWAG's trial
    assert set(refit_runs["status"]) == {"FINISHED"}
    stage_runs = runs[runs["tags.run_kind"] == "stage"].set_index("tags.stage_name")["run_id"]
    assert (refit_runs["tags.mlflow.parentRunId"] == refit_runs["tags.stage"].map(stage_runs)).all()
    assert main(["status", str(spec.storage)]) == 0
    assert capsys.readouterr().out.count("refit on train + validation: done") == 3
    caplog.set_level(logging.INFO, logger="bdlsweep")
    run_sweep(spec)
    assert "stage llla: refit earlier, skipped" in caplog.text
    assert len(mlflow.search_runs(experiment_names=[spec.experiment])) == len(runs)


@pytest.mark.slow
def test_regression_1d_sweep_draws_every_methods_predictive_over_x(tmp_path, ray_session):
    from bdlsweep.trainables.methods.map import MAPPosterior

    spec = load_spec(
        ROOT / "sweeps" / "regression_1d_hmc.yaml",
        [
            f"storage={tmp_path}",
            "seeds=[1,2]",
            "stages.map.epochs=20",
            "stages.swag.epochs=2",
            "stages.swag.rank=2",
            "stages.swag.search.lr=[0.001]",
            "stages.sghmc.epochs=4",
            "stages.sghmc.cycles=2",
            "stages.sghmc.search.lr=[1.0e-4]",
            "stages.hmc.iterations=2",
            "stages.hmc.burn_in=1",
            "stages.hmc.step_size=1.0e-9",  # a chain that cannot move: its samples are its MAP start
            "stages.hmc.adapt_step_size=false",
            "stages.vi.epochs=2",
            "stages.vi.search.prior_variance=[1.0]",
            "evaluate.ensemble_sizes=[1,2]",
            "evaluate.num_posterior_samples=4",
            "evaluate.subsample_sizes=[4]",
            "evaluate.predictive_plot=2",
        ],
    )
    outcome = run_sweep(spec)
    assert set(outcome.ensembles["method"]) == {"map", "swag", "sghmc", "hmc", "vi"}
    image = (tmp_path / "results" / "predictive_1d.png").read_bytes()
    assert image.startswith(b"\x89PNG") and len(image) > 10_000
    curves = pd.read_csv(tmp_path / "evaluation" / "predictive_curves.csv")
    data = load_dataset(spec.dataset, spec.dataset_options)
    assert curves.groupby("method").size().to_dict() == {
        m: len(data.curve.x) for m in curves["method"].unique()
    }
    assert len(curves["method"].unique()) == 5 and (curves["K"] == 2).all() and (curves["std"] > 0).all()
    # the deep ensemble's curve, recomputed here: the mixture of the two MAP networks, in data units
    members = [MAPPosterior.load(outcome.selections["map"].checkpoints()[seed]) for seed in (1, 2)]
    outputs = torch.cat([m.predict(data.curve.inputs, 1, torch.Generator()) for m in members])
    means, variances = outputs[..., 0], outputs[..., 1]
    mean = means.mean(0)
    std = ((variances + means**2).mean(0) - mean**2).sqrt()
    ensemble = curves[curves["method"] == "map"].sort_values("x")
    scale, shift = data.curve.target_scale, data.curve.target_mean
    assert np.allclose(ensemble["mean"], mean.numpy() * scale + shift, rtol=1e-4, atol=1e-4 * scale)
    assert np.allclose(ensemble["std"], std.numpy() * scale, rtol=1e-4, atol=1e-4 * scale)
    # HMC started from each seed's MAP weights: a chain that cannot move scores as its MAP network
    for seed in (1, 2):
        chain = outcome.selections["hmc"].members[seed].metrics["val_elpd"]
        assert chain == pytest.approx(outcome.selections["map"].members[seed].metrics["val_elpd"], abs=1e-3)
    _check_distance_to_hmc(tmp_path, outcome, data, members)


def _check_distance_to_hmc(folder, outcome, data, members) -> None:
    """HMC is the file's reference; its chains cannot move, so the deep ensemble of the same two MAP
    networks sits at W2 ≈ 0 from it, and the two chains' distance (the ceiling) is the two networks'."""
    test = outcome.ensembles[outcome.ensembles["split"] == "test"]
    scale = data.target_scale
    deep_ensemble = test[(test["method"] == "map") & (test["K"] == 2)]
    assert len(deep_ensemble) == 1 and (deep_ensemble["test_wasserstein2"] < 1e-3 * scale).all()
    assert (test[test["method"] == "vi"]["test_wasserstein2"] > 1e-3 * scale).all()
    outputs = [m.predict(data.test.inputs, 1, torch.Generator())[0].double().numpy() for m in members]
    (mean_a, var_a), (mean_b, var_b) = ((o[:, 0], o[:, 1]) for o in outputs)
    by_hand = scale * np.mean(np.sqrt((mean_a - mean_b) ** 2 + (np.sqrt(var_a) - np.sqrt(var_b)) ** 2))
    ceiling = pd.read_csv(folder / "evaluation" / "reference_ceiling.csv")
    assert ceiling[["seed_a", "seed_b"]].values.tolist() == [[1, 2]]
    assert ceiling["wasserstein2"].iloc[0] == pytest.approx(by_hand, rel=1e-3)
