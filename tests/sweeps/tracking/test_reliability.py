"""What goes wrong in long sweeps: diverging trials, a tracking server that is missing or goes away, its
PostgreSQL database restarting, and runs that must repeat exactly."""

import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from comparable_results import comparable
from local_servers import LocalPostgres, free_port, start_mlflow_server, stop_server
from mlflow.tracking import MlflowClient
from sweep_files import small_sweep, write_sweep

from bdlsweep.analysis import results
from bdlsweep.cli import main
from bdlsweep.sweeps.pipeline import run_sweep
from bdlsweep.sweeps.spec.loading import load_spec
from bdlsweep.sweeps.tracking.server_check import database_reason

DIVERGING_LR = 1.0e6
SWEEP = small_sweep(
    "reliable",
    {
        "map": {
            "method": "map",
            "epochs": 3,
            "batch_size": 64,
            "search": {"optimizer.lr": [0.05, DIVERGING_LR]},
        },
        "swag": {"method": "swag", "from": "map", "epochs": 2, "rank": 2, "val_samples": 2},
    },
    {
        "methods": ["map", "swag"],
        "ensemble_sizes": [1, 2],
        "ensembles_per_size": 1,
        "num_posterior_samples": 4,
    },
    model={"name": "mlp", "hidden": [32]},
    seeds=[1, 2],
)


def _sweep_file(tmp_path, **changes):
    raw = yaml.safe_load(yaml.safe_dump(SWEEP))
    for key, value in changes.items():
        raw[key] = value
    path = write_sweep(tmp_path, raw, "sweep.yaml")
    return path


@pytest.mark.slow
def test_a_seed_whose_every_trial_diverges_fails_the_stage_naming_seed_and_grid(
    tmp_path, ray_session, capsys
):
    stages = {"map": {**SWEEP["stages"]["map"], "search": {"optimizer.lr": [DIVERGING_LR]}}}
    path = _sweep_file(tmp_path, stages=stages, evaluate={**SWEEP["evaluate"], "methods": ["map"]})
    expected = r"stage map: every trial of seed 1 diverged \(NaN/inf; grid: optimizer\.lr="
    with pytest.raises(RuntimeError, match=expected):
        run_sweep(load_spec(path, [f"storage={tmp_path / 'sweep'}"]))
    assert main(["status", str(tmp_path / "sweep")]) == 1
    assert "stage map (map): failed; 0 done, 2 diverged, 0 failed, 0 unfinished" in capsys.readouterr().out


def test_an_unreachable_tracking_server_stops_the_sweep_before_anything_starts(tmp_path, capsys):
    path = _sweep_file(tmp_path)
    uri = f"http://127.0.0.1:{free_port()}"
    code = main(["run", str(path), f"storage={tmp_path / 'sweep'}", f"mlflow.tracking_uri={uri}"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1
    assert f"{path}: mlflow.tracking_uri: {uri}: no MLflow server answers there" in error
    assert not (tmp_path / "sweep").exists()


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        (
            "postgresql+nosuchdriver://u@127.0.0.1:{port}/db",
            "SQLAlchemy cannot load its driver (NoSuchModuleError",
        ),
        ("postgresql+psycopg2://u:secret@127.0.0.1:{port}/db", "the database does not answer (Operational"),
        ("ftp://127.0.0.1:{port}/x", "MLflow has no store for ftp://"),
    ],
    ids=["no-driver", "no-database", "no-store"],
)
def test_a_tracking_database_mlflow_cannot_use_stops_the_sweep_before_anything_starts(
    tmp_path, capsys, uri, problem
):
    path = _sweep_file(tmp_path)
    uri = uri.format(port=free_port())
    code = main(["run", str(path), f"storage={tmp_path / 'sweep'}", f"mlflow.tracking_uri={uri}"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1, error
    assert f"{path}: mlflow.tracking_uri: {uri.replace(':secret@', ':***@')}: {problem}" in error
    assert "secret" not in error and not (tmp_path / "sweep").exists()


def test_a_live_postgresql_passes_the_tracking_check():
    database = LocalPostgres(free_port())
    try:
        assert database_reason(database.uri) is None
    finally:
        database.remove()


def _stop_after_first_metric(server, uri: str) -> threading.Thread:
    """A thread that stops the MLflow server as soon as some run holds a ``val_elpd`` value."""

    def watch() -> None:
        client = MlflowClient(uri)
        while True:
            experiments = client.search_experiments()
            ids = [e.experiment_id for e in experiments if e.name == SWEEP["name"]]
            if ids and any("val_elpd" in run.data.metrics for run in client.search_runs(ids)):
                stop_server(server)
                return
            time.sleep(0.1)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _check_divergence(storage, runs) -> None:
    """Diverged trials stopped after one epoch, unselected, flagged in Tune and (FAILED) in MLflow."""
    trials = results.trials(storage, "map")
    diverged = trials[trials["config/optimizer/lr"] == DIVERGING_LR]
    assert len(diverged) == 2 and diverged["diverged"].all() and (diverged["epoch"] == 1).all()
    assert not trials.loc[trials["config/optimizer/lr"] == 0.05, "diverged"].any()
    chosen = results.selections(storage)
    assert (chosen.loc[chosen["label"] == "map", "config/optimizer"].map(lambda o: o["lr"]) == 0.05).all()
    flagged = {run.data.tags["trial_id"] for run in runs if run.data.tags.get("diverged") == "true"}
    assert flagged == set(diverged["trial_id"])
    map_runs = [run for run in runs if run.data.tags.get("stage") == "map"]
    kept = {run.data.tags["trial_id"] for run in map_runs if run.data.tags.get("diverged") == "false"}
    assert kept == set(trials["trial_id"]) - flagged and kept
    assert {run.info.status for run in runs if run.data.tags.get("trial_id") in flagged} == {"FAILED"}


def _check_synced(storage, client, runs) -> None:
    """Every trial has one run holding each finite value Tune recorded; selections and evaluation too."""
    for stage in ("map", "swag"):
        trials = results.trials(storage, stage)
        stage_runs = [run for run in runs if run.data.tags.get("stage") == stage]
        assert sorted(run.data.tags["trial_id"] for run in stage_runs) == sorted(trials["trial_id"])
    by_trial = {
        result.metrics["trial_id"]: result
        for stage in ("map", "swag")
        for grid in results.load_result_grids(storage, stage)
        for result in grid
    }
    for run in runs:
        if run.data.tags.get("stage") not in ("map", "swag"):
            continue
        reported = by_trial[run.data.tags["trial_id"]].metrics_dataframe["val_elpd"]
        finite = reported[reported.notna() & (reported.abs() != float("inf"))]
        history = client.get_metric_history(run.info.run_id, "val_elpd")
        assert sorted(m.value for m in history) == pytest.approx(sorted(finite))
    chosen = results.selections(storage)
    for label, group in chosen.groupby("label"):
        tagged = {run.data.tags["trial_id"] for run in runs if run.data.tags.get(f"selected_as.{label}")}
        assert tagged == set(group["trial_id"])
    trial_runs = [run for run in runs if run.data.tags.get("stage") in ("map", "swag")]
    selected = {run.data.tags["trial_id"] for run in trial_runs if run.data.tags["selected"] == "true"}
    assert selected == set(chosen["trial_id"])
    others = [run for run in trial_runs if run.data.tags["trial_id"] not in selected]
    assert others and all(run.data.tags["selected"] == "false" for run in others)
    assert len([run for run in runs if run.data.tags.get("stage") == "evaluate"]) == 1


def _sweep_while_the_server_goes_away(tmp_path, monkeypatch) -> Path:
    """Run the sweep against an MLflow server stopped mid-sweep; restart it, sync twice, check records."""
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = start_mlflow_server(tmp_path / "server", port)
    watcher = _stop_after_first_metric(server, uri)
    storage = tmp_path / "away"
    try:
        with monkeypatch.context() as patch:
            patch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail fast while it is away
            outcome = run_sweep(
                load_spec(_sweep_file(tmp_path), [f"storage={storage}", f"mlflow.tracking_uri={uri}"])
            )
        watcher.join(timeout=5)
        assert not watcher.is_alive() and server.poll() is not None  # it went away mid-sweep
        assert set(outcome.selections) == {"map", "swag", "swa"}  # and the sweep finished regardless

        server = start_mlflow_server(tmp_path / "server", port)
        assert main(["sync-mlflow", str(storage)]) == 0
        assert main(["sync-mlflow", str(storage)]) == 0  # a second sync adds nothing
        client = MlflowClient(uri)
        experiment_id = client.get_experiment_by_name(SWEEP["name"]).experiment_id
        runs = client.search_runs([experiment_id], max_results=1000)
        _check_synced(storage, client, runs)
        _check_divergence(storage, runs)
    finally:
        stop_server(server)
    return storage


def _restart_database_after_first_metric(
    database: LocalPostgres, uri: str, away_s: float
) -> threading.Thread:
    """A thread that stops PostgreSQL as soon as some run holds a ``val_elpd`` value, and starts it again
    ``away_s`` seconds later; it sets ``thread.away`` to the (stopped, started) monotonic times."""

    def outage() -> None:
        client = MlflowClient(uri)
        while True:
            experiment = client.get_experiment_by_name(SWEEP["name"])
            if experiment and any(
                "val_elpd" in r.data.metrics for r in client.search_runs([experiment.experiment_id])
            ):
                break
            time.sleep(0.1)
        database.stop()
        stopped = time.monotonic()
        time.sleep(away_s)
        database.start()
        thread.away = (stopped, time.monotonic())

    thread = threading.Thread(target=outage, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
def test_tracking_outages_lose_and_repeat_no_record_and_the_sweep_repeats_exactly(
    tmp_path, ray_session, monkeypatch, caplog
):
    """One sweep (two seeds; one learning rate of the MAP grid diverges) run twice: against an MLflow
    server that is stopped mid-sweep (then restarted for ``sync-mlflow``), and against a server whose
    store is a real PostgreSQL that is stopped for 8 s mid-sweep. Every record is there once after each,
    and the two runs select and evaluate exactly alike."""
    away = _sweep_while_the_server_goes_away(tmp_path, monkeypatch)
    database = LocalPostgres(free_port())
    try:
        port = free_port()
        uri = f"http://127.0.0.1:{port}"
        server = start_mlflow_server(tmp_path / "postgres-server", port, backend_store_uri=database.uri)
        try:
            restarted = _sweep_through_a_database_restart(tmp_path, database, uri, caplog)
        finally:
            stop_server(server)
    finally:
        database.remove()
    pd.testing.assert_frame_equal(
        comparable(results.selections(away)), comparable(results.selections(restarted))
    )
    pd.testing.assert_frame_equal(results.ensembles(away), results.ensembles(restarted))


def _sweep_through_a_database_restart(tmp_path, database: LocalPostgres, uri: str, caplog) -> Path:
    """Run the sweep while PostgreSQL goes away for 8 s; sync; check every record is there once."""
    storage = tmp_path / "sweep"
    caplog.clear()  # what the first sweep logged while its server was away
    outage = _restart_database_after_first_metric(database, uri, away_s=8)
    run_sweep(load_spec(_sweep_file(tmp_path), [f"storage={storage}", f"mlflow.tracking_uri={uri}"]))
    finished = time.monotonic()
    outage.join(timeout=60)
    assert outage.away[0] < finished  # the database went away mid-sweep
    waited = [r.getMessage() for r in caplog.records if r.name == "bdlsweep.sweeps.tracking.trial_logger"]
    assert not [message for message in waited if "dropped" in message]  # a 5xx is not a refusal
    assert main(["sync-mlflow", str(storage)]) == 0
    client = MlflowClient(uri)
    experiment_id = client.get_experiment_by_name(SWEEP["name"]).experiment_id
    runs = client.search_runs([experiment_id], max_results=1000)
    _check_synced(storage, client, runs)
    _check_divergence(storage, runs)
    return storage
