"""SIGTERM (handled as Ctrl+C) and SIGKILL mid-stage, then ``bdlsweep resume``: nothing is lost, nothing
recorded twice (and a second run started meanwhile is refused)."""

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest
from ray_cpus import RAY_CPUS
from repo_paths import ROOT
from sweep_files import small_sweep, write_sweep

from bdlsweep.analysis import results
from bdlsweep.cli import main
from bdlsweep.sweeps.spec.loading import load_spec

QUICKSTART = ROOT / "sweeps" / "quickstart.yaml"
MAP_AND_SWAG = small_sweep(
    "interrupted",
    {
        "map": {"method": "map", "epochs": 2, "batch_size": 64},
        "swag": {
            "method": "swag",
            "from": "map",
            "epochs": 40,
            "rank": 5,
            "val_samples": 2,
            "search": {"lr": [0.01, 0.003]},
        },
    },
    {
        "methods": ["map", "swag"],
        "num_posterior_samples": 2,
        "subsample_sizes": [2],
        "splits": ["test"],
    },
    model={"name": "mlp", "hidden": [128, 128]},
    seeds=[1, 2],
)


def _checkpoints(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/checkpoint_*"))


def _rows(trial: Path) -> list[dict]:
    """The reports in a trial folder's result.json (a line cut by a kill left out)."""
    rows = []
    for line in (trial / "result.json").read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows


def _finished(folder: Path) -> dict[Path, int]:
    """Trial folder → how many reports it holds, for each trial that reported ``trial_complete``."""
    rows = {trial.parent: _rows(trial.parent) for trial in folder.glob("*/result.json")}
    return {
        trial: len(reports) for trial, reports in rows.items() if any(r["trial_complete"] for r in reports)
    }


def _start(command: list[str]) -> subprocess.Popen:
    """``bdlsweep COMMAND`` as a driver process of its own, its stderr kept for the assertions."""
    return subprocess.Popen(
        [sys.executable, "-m", "bdlsweep", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_running(process: subprocess.Popen, ready: Callable[[], bool]) -> None:
    """Wait (at most 4 minutes) until ``ready()``; the driver must still be running then."""
    deadline = time.monotonic() + 240
    while not ready() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, process.stderr.read()


def _stop(process: subprocess.Popen, stop: signal.Signals) -> str:
    """Send ``stop`` to the driver; its stderr once it has ended."""
    process.send_signal(stop)
    return process.communicate(timeout=120)[1]


@pytest.mark.slow
def test_a_driver_stopped_mid_stage_twice_resumes_without_losing_or_duplicating(
    tmp_path, ray_session, capsys
):
    """The run is stopped by SIGTERM (handled as Ctrl+C: Tune's state saved, Ray stopped) with
    checkpoints saved, its resume by SIGKILL once a trial finished, and a second resume completes it."""
    sweep = write_sweep(tmp_path, MAP_AND_SWAG, "interrupted.yaml")
    overrides = [f"storage={tmp_path / 'sweep'}", f"ray.num_cpus={RAY_CPUS}"]
    swag = tmp_path / "sweep" / "swag"
    process = _start(["run", str(sweep), *overrides])
    _wait_running(process, lambda: bool(_checkpoints(swag)))
    capsys.readouterr()
    assert main(["run", str(sweep), *overrides]) == 2  # a second, concurrent run into the same folder
    assert f"pid {process.pid}" in capsys.readouterr().err
    _wait_running(process, lambda: len(_checkpoints(swag)) >= 2)  # mid-stage, with checkpoints saved
    stderr = _stop(process, signal.SIGTERM)
    assert process.returncode == 130 and "interrupted" in stderr, stderr
    assert not (tmp_path / "sweep" / "selections" / "swag.json").exists()
    assert main(["status", str(tmp_path / "sweep")]) == 0
    status = capsys.readouterr().out
    assert "stage map (map): done" in status and "evaluation: not done" in status
    assert re.search(
        r"stage swag \(swag\): running or interrupted; \d+ done, 0 diverged, 0 failed, [1-9]", status
    )
    assert main(["run", str(sweep), *overrides, "--dry-run"]) == 0
    assert "stage swag (swag): running or interrupted" in capsys.readouterr().out

    finished_before = set(_finished(swag))
    resumed = _start(["resume", str(tmp_path / "sweep")])
    _wait_running(resumed, lambda: set(_finished(swag)) > finished_before)  # it must not train again
    _stop(resumed, signal.SIGKILL)
    assert resumed.returncode == -signal.SIGKILL
    assert not (tmp_path / "sweep" / "selections" / "swag.json").exists()

    finished = _finished(swag)
    assert main(["resume", str(tmp_path / "sweep")]) == 0  # the explicit resume of the stored sweep
    for trial, reported in finished.items():  # replayed (its final report again), not trained again
        assert [row["epoch"] for row in _rows(trial)[reported:]] in ([], [40]), trial
    spec = load_spec(sweep, overrides)
    trials = results.trials(spec.storage, "swag")
    assert len(trials) == 4 and (trials["epoch"] == 40).all()
    mlflow.set_tracking_uri(spec.tracking_uri)
    runs = mlflow.search_runs(experiment_names=[spec.experiment])
    swag_runs = runs[runs["tags.stage"] == "swag"]
    assert len(swag_runs) == 4
    assert sorted(swag_runs["tags.trial_id"]) == sorted(trials["trial_id"])
    client = mlflow.MlflowClient(spec.tracking_uri)
    for run_id in swag_runs["run_id"]:  # what the stopped drivers had gathered is logged on resume
        steps = sorted(metric.step for metric in client.get_metric_history(run_id, "val_elpd"))
        assert steps == list(range(1, 41)), run_id  # each step once, though resumed trials report again
    assert (tmp_path / "sweep" / "selections" / "swag.json").is_file()


def test_resume_reads_the_stored_file_and_overrides_and_falls_back_to_its_copy(tmp_path, capsys):
    from bdlsweep.sweeps.running.resume import resume_arguments
    from bdlsweep.sweeps.running.storage_guard import record_sweep

    sweep = tmp_path / "mine.yaml"
    sweep.write_text(QUICKSTART.read_text())
    storage = tmp_path / "storage"
    record_sweep(load_spec(sweep, ["seeds=3", f"storage={storage}"]))
    assert resume_arguments(storage) == (sweep, ["seeds=3", f"storage={storage}", f"storage={storage}"])
    sweep.unlink()
    path, _ = resume_arguments(storage)
    assert path == storage / "source.yaml" and path.read_text() == QUICKSTART.read_text()
    assert main(["resume", str(tmp_path / "nowhere")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "sweep.json" in error and "not a bdlsweep storage folder" in error
