"""MLflow records: one run per Tune trial (params, per-epoch metrics, tags), selection tags, evaluation,
reports, and studies (posterior surfaces, prior studies)."""

from __future__ import annotations

import logging
import math
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

import requests
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from bdlsweep.storage.layout import SweepLayout
from bdlsweep.storage.locations import Location
from bdlsweep.trainables.data.registry import DATASET_LIKELIHOODS
from bdlsweep.trainables.runtime.reporting import DIVERGED, NODE_ID

logger = logging.getLogger(__name__)

MAX_BATCH = 900
UNREACHABLE = (MlflowException, requests.RequestException, OSError)


def refused(error: Exception) -> bool:
    """Whether the tracking store answered and refused a record (an HTTP 4xx: a bad value, a deleted
    run), which sending it again cannot change; a 5xx (a server whose database is down or restarting)
    or no answer means the record waits."""
    return isinstance(error, MlflowException) and 400 <= error.get_http_status_code() < 500


def ensure_experiment(tracking_uri: str, name: str, artifact_root: Location) -> str:
    """The id of experiment ``name``, created if needed; with a local tracking store its artifacts go
    under ``artifact_root`` (a tracking server keeps its own artifact root)."""
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = artifact_root.as_uri() if tracking_uri.startswith(("sqlite:", "file:", "/")) else None
    return client.create_experiment(name, artifact_location=location)


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (``optimizer.lr``)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


TUNER_KEYS = ("sweep", "stage", "storage", "tune_experiment")


def quoted(value: str) -> str:
    """``value`` as a string literal of MLflow's search syntax, which has no escapes: in single quotes,
    or in double quotes when it holds a single quote (the sweep file may not hold both)."""
    if "'" in value and '"' in value:
        raise ValueError(f"{value!r} holds both quote characters: MLflow's search syntax cannot express it")
    return f'"{value}"' if "'" in value else f"'{value}'"


def tag_filter(tags: dict[str, str]) -> str:
    """An MLflow ``filter_string`` matching runs with every one of ``tags``."""
    return " and ".join(f"tags.{key} = {quoted(value)}" for key, value in tags.items())


VAL_UNITS, TEST_UNITS = "units.val", "units.test"


def metric_units(dataset: str) -> dict[str, str]:
    """Tags naming the units of a regression set's metrics: trials train and are validated on
    standardised targets, the evaluation reports in the dataset's own target units."""
    if DATASET_LIKELIHOODS[dataset] != "regression":
        return {}
    return {VAL_UNITS: "standardised targets", TEST_UNITS: "target units"}


def tuner_runs(client: MlflowClient, experiment_id: str, tags: dict[str, str]) -> dict[str, str]:
    """Trial id → run id of the runs one Tuner recorded (one query, keyed by the Tuner's tags)."""
    match = tag_filter({key: tags[key] for key in TUNER_KEYS})
    runs = client.search_runs([experiment_id], filter_string=match, max_results=50000)
    return {run.data.tags["trial_id"]: run.info.run_id for run in runs if "trial_id" in run.data.tags}


def discard_partial_runs(tracking_uri: str, experiment_id: str, tags: dict[str, str]) -> int:
    """Delete the runs of a Tuner that starts afresh: they record trials of an attempt killed before
    Tune first saved its state, which are run again under new trial ids; how many were deleted."""
    client = MlflowClient(tracking_uri)
    runs = tuner_runs(client, experiment_id, tags)
    for run_id in runs.values():
        client.delete_run(run_id)
    return len(runs)


def run_name(stage: str, config: dict[str, Any], searched: list[str]) -> str:
    """A trial run's name: stage, seed and the searched hyper-parameters."""
    flat = flatten(config)
    parts = [stage, f"seed={flat.get('seed')}"]
    for key in searched:
        parts.append(f"{key}={flat[key]:g}" if isinstance(flat[key], float) else f"{key}={flat[key]}")
    return " ".join(parts)


def create_trial_run(
    client: MlflowClient,
    experiment_id: str,
    tags: dict[str, str],
    searched: list[str],
    trial_id: str,
    config: dict[str, Any],
) -> str:
    """A new run for a trial: its name, the Tuner's tags plus seed and trial id, its config as params.

    It starts as ``selected=false`` and ``diverged=false`` (set true when so), so the MLflow UI can
    filter on either value."""
    flat = flatten(config)
    run_tags = {**tags, "seed": str(flat.get("seed")), "trial_id": trial_id, "selected": "false"}
    run_tags[DIVERGED] = "false"
    run = client.create_run(experiment_id, run_name=run_name(tags["stage"], config, searched), tags=run_tags)
    params = [Param(key, str(value)) for key, value in flat.items()]
    for start in range(0, len(params), MAX_BATCH):
        client.log_batch(run.info.run_id, params=params[start : start + MAX_BATCH])
    return run.info.run_id


def result_records(result: dict[str, Any]) -> tuple[list[Metric], list[RunTag]]:
    """The MLflow metrics (finite numbers, step = training iteration) and tags of one Tune result."""
    step = int(result.get("training_iteration", 0))
    timestamp = int(result.get("timestamp", 0) * 1000)
    metrics = [
        Metric(key, float(value), timestamp, step)
        for key, value in result.items()
        if isinstance(value, (int, float))
        and not isinstance(value, bool)
        and key not in {"training_iteration", "timestamp", "pid", "time_this_iter_s"}
        and not key.startswith("config/")  # Tune's flattened config in its dataframes: params, not metrics
        and math.isfinite(value)
    ]
    tags = [RunTag(NODE_ID, str(result[NODE_ID]))] if NODE_ID in result else []
    if result.get(DIVERGED):
        tags.append(RunTag(DIVERGED, "true"))
    return metrics, tags


def logged_steps(client: MlflowClient, run_id: str) -> dict[str, list[int]]:
    """Metric key → the steps a run holds values for."""
    return {
        key: [metric.step for metric in client.get_metric_history(run_id, key)]
        for key in client.get_run(run_id).data.metrics
    }


def tag_selected(
    tracking_uri: str, experiment_id: str, sweep: str, stage: str, label: str, trial_ids: list[str]
) -> None:
    """Tag the runs of selected trials: ``selected=true`` and ``selected_as.<label>=true``."""
    client = MlflowClient(tracking_uri)
    match = tag_filter({"sweep": sweep, "stage": stage})
    for run in client.search_runs([experiment_id], filter_string=match, max_results=50000):
        if run.data.tags.get("trial_id") in trial_ids:
            client.log_batch(
                run.info.run_id,
                tags=[RunTag("selected", "true"), RunTag(f"selected_as.{label}", "true")],
            )


def log_evaluation(
    tracking_uri: str,
    experiment_id: str,
    tags: dict[str, str],
    summary: dict[str, dict[int, float]],
    artifacts: list[Location],
    storage: Location,
) -> str:
    """One run for the evaluation: mean metrics per method with K as the step, tables as artifacts."""
    client = MlflowClient(tracking_uri)
    run = client.create_run(experiment_id, run_name=f"{tags['sweep']} evaluate", tags=tags)
    metrics = [
        Metric(name, float(value), 0, int(step))
        for name, by_size in summary.items()
        for step, value in by_size.items()
        if math.isfinite(value)
    ]
    for start in range(0, len(metrics), MAX_BATCH):
        client.log_batch(run.info.run_id, metrics=metrics[start : start + MAX_BATCH])
    log_files(client, run.info.run_id, artifacts, storage)
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def log_files(
    client: MlflowClient, run_id: str, files: list[Location], storage: Location, folder: str | None = None
) -> bool:
    """Attach files (local or in a bucket) of the sweep stored in ``storage`` to a run as artifacts,
    under ``folder`` if given; not where the folder's own store keeps them outside it (a moved folder;
    said in the log). Whether they were attached."""
    elsewhere = _artifacts_elsewhere(client, run_id, storage)
    if elsewhere is not None:
        logger.warning(
            "MLflow: %d file(s) not attached to run %s: its artifacts live in %s, outside %s "
            "(the folder was moved or copied with its tracking store)",
            len(files), run_id, elsewhere, storage,
        )  # fmt: skip
        return False
    with tempfile.TemporaryDirectory() as staging:
        for item in files:
            (Path(staging) / item.name).write_bytes(item.read_bytes())
        client.log_artifacts(run_id, staging, artifact_path=folder)
    return True


def _artifacts_elsewhere(client: MlflowClient, run_id: str, storage: Location) -> str | None:
    """The local folder of a run's artifacts when the run is in the storage folder's own SQLite store
    but the folder lies outside it: the store records absolute artifact places, so in a moved or
    copied folder they still name the old one. (A store of its own, shared by sweeps, keeps the
    artifact place of whichever sweep made the experiment.)"""
    if storage.is_uri or client.tracking_uri != SweepLayout(storage).default_tracking_uri:
        return None
    parsed = urllib.parse.urlparse(client.get_run(run_id).info.artifact_uri)
    if parsed.scheme not in ("", "file"):
        return None
    place = Path(urllib.parse.unquote(parsed.path)).resolve()
    return None if place.is_relative_to(storage.path.resolve()) else str(place)


def _sweep_run_id(client: MlflowClient, experiment: str, sweep: str, storage: str) -> tuple[str, str] | None:
    """(experiment id, run id) of the sweep's parent run, or None when it has none."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    match = tag_filter({"sweep": sweep, "storage": storage, "run_kind": "sweep"})
    runs = client.search_runs([found.experiment_id], filter_string=match, max_results=1)
    return (found.experiment_id, runs[0].info.run_id) if runs else None


def log_report(
    tracking_uri: str, experiment: str, sweep: str, storage: str, files: list[Location], root: Location
) -> str | None:
    """Attach a report's files (in the storage folder ``root``) to the parent run of the sweep run into
    ``storage`` under ``report/``; that run's id, or None when the sweep has none (or the files were
    not attached)."""
    client = MlflowClient(tracking_uri)
    found = _sweep_run_id(client, experiment, sweep, storage)
    if found is None:
        return None
    return found[1] if log_files(client, found[1], files, root, "report") else None


def log_study(
    record: dict[str, Any],
    kind: str,
    label: str,
    params: dict[str, Any],
    metrics: dict[str, float],
    files: list[Location],
    root: Location,
) -> str:
    """A finished run for one study of a sweep (``kind``: ``surface``, ``prior``), nested under the
    sweep's parent run when there is one: settings as params, its figures of merit as metrics, its
    files (in the storage folder ``root``) as artifacts under ``kind/``. ``record`` holds the sweep's
    name, storage as run, tracking URI and experiment (as ``sweep.json`` does)."""
    client = MlflowClient(record["tracking_uri"])
    storage = Location.parse(record["storage"])
    experiment_id = ensure_experiment(
        record["tracking_uri"], record["experiment"], SweepLayout(root).mlflow_artifacts
    )
    found = _sweep_run_id(client, record["experiment"], record["name"], str(storage))
    tags = {"sweep": record["name"], "storage": str(storage), "run_kind": kind}
    if found is not None:
        tags[MLFLOW_PARENT_RUN_ID] = found[1]
    run_id = client.create_run(experiment_id, run_name=f"{record['name']} {label}", tags=tags).info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric(key, value, int(time.time() * 1000), 0) for key, value in metrics.items()],
        params=[Param(key, str(value)) for key, value in params.items()],
    )
    log_files(client, run_id, files, root, kind)
    client.set_terminated(run_id)
    return run_id
