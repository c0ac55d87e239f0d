"""``scheduler: asha``: stopped trials are finished, never selected, and recorded for what they are."""

from types import SimpleNamespace

import mlflow
import pytest
from sweep_files import small_sweep, write_sweep

from bdlsweep.analysis import results
from bdlsweep.cli import main
from bdlsweep.sweeps.reading.errors import SpecError
from bdlsweep.sweeps.running.early_stopping import check_stopped
from bdlsweep.sweeps.spec.loading import load_spec

SWEEP = small_sweep(
    "asha",
    {
        "map": {"method": "map", "epochs": 3, "batch_size": 64},
        "swag": {
            "method": "swag",
            "from": "map",
            "epochs": 9,
            "rank": 3,
            "val_samples": 2,
            "search": {"lr": [0.3, 0.1, 0.03, 0.01, 0.003, 0.001]},
            "scheduler": {"name": "asha", "grace_epochs": 1, "reduction_factor": 3},
        },
    },
    {"methods": ["swag"], "ensemble_sizes": [1], "num_posterior_samples": 2, "splits": ["test"]},
    model={"name": "mlp", "hidden": [32]},
    seeds=[1, 2],
)


def _write(tmp_path, sweep: dict):
    path = write_sweep(tmp_path, sweep, "asha.yaml")
    return path


def test_a_method_that_reports_once_cannot_be_stopped_early(tmp_path):
    sweep = {
        **SWEEP,
        "stages": {**SWEEP["stages"], "llla": {"method": "llla", "from": "map", "scheduler": {}}},
    }
    with pytest.raises(SpecError, match=r"stages\.llla\.scheduler: method llla reports once per trial"):
        load_spec(_write(tmp_path, sweep))


def _result(seed: int, complete: bool, diverged: bool = False):
    metrics = {"trial_complete": complete or diverged, "diverged": diverged}
    return SimpleNamespace(error=None, metrics=metrics, config={"seed": seed})


def test_a_seed_whose_every_trial_was_stopped_or_diverged_fails_the_stage(tmp_path):
    stage = load_spec(_write(tmp_path, SWEEP)).stages["swag"]
    check_stopped(stage, [1, 2], [_result(1, True), _result(1, False), _result(2, True)])
    with pytest.raises(RuntimeError, match="stage swag: no trial of seed 2 ran its whole budget"):
        check_stopped(stage, [1, 2], [_result(1, True), _result(2, False), _result(2, False, diverged=True)])


@pytest.mark.slow  # a MAP and an ASHA SWAG stage with evaluation: about a minute and a half
def test_trials_asha_stops_are_never_selected_and_are_recorded_as_stopped(tmp_path, ray_session, capsys):
    path = _write(tmp_path, SWEEP)
    overrides = [f"storage={tmp_path / 'sweep'}"]
    assert main(["run", str(path), *overrides]) == 0
    spec = load_spec(path, overrides)
    trials = results.trials(spec.storage, "swag")
    assert len(trials) == 12
    stopped = trials[~trials["trial_complete"].astype(bool)]
    assert len(stopped) > 0 and (stopped["epoch"] < 9).all()
    selection = results.selections(spec.storage).query("label == 'swag'")
    chosen = trials[trials["trial_id"].isin(selection["trial_id"])]
    assert len(chosen) == 2 and (chosen["epoch"] == 9).all() and chosen["trial_complete"].all()
    mlflow.set_tracking_uri(spec.tracking_uri)
    runs = mlflow.search_runs(experiment_names=[spec.experiment])
    swag_runs = runs[runs["tags.stage"] == "swag"]
    flagged = swag_runs[swag_runs["tags.stopped_early"] == "true"]
    assert sorted(flagged["tags.trial_id"]) == sorted(stopped["trial_id"])
    assert set(swag_runs["status"]) == {"FINISHED"}
    capsys.readouterr()
    assert main(["status", str(spec.storage)]) == 0
    assert f"{len(stopped)} stopped early" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        (
            {"method": "llla", "from": "map", "scheduler": {}},
            "stages.llla.scheduler: method llla reports once",
        ),
        ({"method": "map", "scheduler": {"reduction_factor": 1}}, "stages.extra.scheduler.reduction_factor"),
        ({"method": "map", "scheduler": {"name": "hyperband"}}, "stages.extra.scheduler.name"),
    ],
)
def test_a_bad_scheduler_is_one_error_line_and_exit_2(tmp_path, capsys, stage, expected):
    name = "llla" if stage["method"] == "llla" else "extra"
    path = _write(tmp_path, {**SWEEP, "stages": {**SWEEP["stages"], name: stage}})
    assert main(["run", str(path), f"storage={tmp_path / 'sweep'}", "--dry-run"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {path}: ") and expected in line
    assert not (tmp_path / "sweep").exists()


def test_an_asha_stage_lists_each_seeds_grid_in_a_fixed_shuffled_order(tmp_path):
    from bdlsweep.sweeps.running.experiments import experiments

    grid = [10.0**-k for k in range(8)]  # sorted: a worst-to-best order would let every trial pass ASHA
    sweep = {
        **SWEEP,
        "stages": {**SWEEP["stages"], "swag": {**SWEEP["stages"]["swag"], "search": {"lr": grid}}},
    }
    spec = load_spec(_write(tmp_path, sweep), [f"storage={tmp_path / 's'}"])
    orders = [run.param_space["lr"]["grid_search"] for run in experiments(spec, spec.stages["swag"])]
    assert len(orders) == 2 and all(sorted(order) == sorted(grid) for order in orders)
    assert all(order not in (grid, grid[::-1]) for order in orders)
    again = [run.param_space["lr"]["grid_search"] for run in experiments(spec, spec.stages["swag"])]
    assert again == orders  # a resumed Tuner gets the param space it was started with
