"""A stage tuned by Optuna (per seed) runs through Ray Tune, records every trial, selects by val_elpd."""

import mlflow
import pytest
from repo_paths import ROOT

from bdlsweep.analysis import results
from bdlsweep.search_spaces import Range
from bdlsweep.sweeps.cluster.ray_session import ray_for
from bdlsweep.sweeps.reading.errors import SpecError
from bdlsweep.sweeps.running.selection import Selection
from bdlsweep.sweeps.running.stage import run_stage
from bdlsweep.sweeps.spec.loading import load_spec
from bdlsweep.sweeps.tracking.records import ensure_experiment

QUICKSTART = ROOT / "sweeps" / "quickstart.yaml"


def test_search_optuna_uses_the_method_default_range():
    spec = load_spec(QUICKSTART, ["stages.llla.search=optuna", "stages.llla.searcher.num_samples=5"])
    stage = spec.stages["llla"]
    assert stage.search == {"prior_precision": Range("loguniform", 1e-4, 1e4)}
    assert stage.searcher.num_samples == 5


def test_inline_range_implies_optuna_and_is_checked():
    spec = load_spec(QUICKSTART, ["stages.swag.search={lr: {loguniform: [0.001, 0.1]}}"])
    assert spec.stages["swag"].searcher is not None
    with pytest.raises(SpecError, match=r"stages\.swag\.search\.lr: .*low < high"):
        load_spec(QUICKSTART, ["stages.swag.search={lr: {uniform: [0.1, 0.01]}}"])
    with pytest.raises(SpecError, match=r"stages\.swag\.search\.lr: value -0\.1"):
        load_spec(QUICKSTART, ["stages.swag.search={lr: {uniform: [-0.1, 0.1]}}"])


@pytest.mark.slow
def test_optuna_stage_records_every_trial_and_selects_by_val_elpd(tmp_path, ray_session):
    spec = load_spec(
        QUICKSTART,
        [
            f"storage={tmp_path}",
            "seeds=[1,2]",
            "stages.map.epochs=2",
            "stages.llla.search=optuna",
            "stages.llla.searcher.num_samples=4",
            "stages.llla.val_samples=10",
            "evaluate.ensemble_sizes=[1]",
        ],
    )
    experiment_id = ensure_experiment(spec.tracking_uri, spec.experiment, tmp_path / "artifacts")
    with ray_for(spec.ray.address, spec.ray.num_cpus):
        done = run_stage(spec, spec.stages["map"], {}, experiment_id)
        selections = run_stage(spec, spec.stages["llla"], done, experiment_id)

    trials = results.trials(tmp_path, "llla")
    assert len(trials) == 8 and len(results.load_result_grids(tmp_path, "llla")) == 2
    assert trials["config/prior_precision"].nunique() == 8
    assert trials["config/prior_precision"].between(1e-4, 1e4).all()
    for seed in (1, 2):
        per_seed = trials[trials["config/seed"] == seed]
        assert len(per_seed) == 4
        chosen = selections["llla"].members[seed]
        assert (
            chosen.config["prior_precision"]
            == per_seed.loc[per_seed["val_elpd"].idxmax(), "config/prior_precision"]
        )
    assert Selection.load(tmp_path / "selections" / "llla.json") == selections["llla"]

    mlflow.set_tracking_uri(spec.tracking_uri)
    runs = mlflow.search_runs(experiment_names=[spec.experiment])
    llla_runs = runs[runs["tags.stage"] == "llla"]
    assert len(llla_runs) == 8
    assert set(llla_runs["tags.trial_id"]) == set(trials["trial_id"])
    assert llla_runs["metrics.val_elpd"].notna().all()
