"""Load: 500 small trials (LLLA grid points) through the real pipeline, none lost or duplicated."""

import time

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from sweep_files import small_sweep, write_sweep

from bdlsweep.analysis import results
from bdlsweep.sweeps.pipeline import run_sweep
from bdlsweep.sweeps.spec.loading import load_spec

GRID_POINTS = 250
SEEDS = [1, 2]


@pytest.mark.slow
def test_500_llla_trials_all_reach_tune_and_mlflow_once(tmp_path, ray_session):
    sweep = small_sweep(
        "load",
        {
            "map": {"method": "map", "epochs": 1, "batch_size": 128},
            "llla": {
                "method": "llla",
                "from": "map",
                "hessian": "diag",
                "val_samples": 2,
                "search": {"prior_precision": np.logspace(-3, 3, GRID_POINTS).tolist()},
            },
        },
        {"methods": ["llla"], "num_posterior_samples": 2, "splits": ["test"]},
        seeds=SEEDS,
    )
    path = write_sweep(tmp_path, sweep, "load.yaml")
    spec = load_spec(path, [f"storage={tmp_path / 'sweep'}"])
    started = time.monotonic()
    run_sweep(spec)
    minutes = (time.monotonic() - started) / 60
    trials = results.trials(spec.storage, "llla")
    assert len(trials) == len(SEEDS) * GRID_POINTS and trials["trial_id"].is_unique
    assert trials["trial_complete"].all()
    client = MlflowClient(spec.tracking_uri)
    experiment_id = client.get_experiment_by_name("load").experiment_id
    runs = client.search_runs([experiment_id], "tags.stage = 'llla'", max_results=5000)
    logged = [run.data.tags["trial_id"] for run in runs]
    assert len(logged) == len(set(logged)) and set(logged) == set(trials["trial_id"])
    assert all(run.info.status == "FINISHED" and "val_elpd" in run.data.metrics for run in runs)
    print(f"\n{len(trials) + len(SEEDS)} trials in {minutes:.2f} min: {len(trials) / minutes:.0f} trials/min")
