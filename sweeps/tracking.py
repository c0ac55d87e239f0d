"""MLflow records: one run per Tune trial (params, per-epoch metrics, tags), selection tags, evaluation."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from ray import tune

from bdlsweep.locations import Location
from bdlsweep.trainables.reporting import NODE_ID

MAX_BATCH = 900


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


def find_trial_run(client: MlflowClient, experiment_id: str, sweep: str, stage: str, trial_id: str):
    """The run already recorded for a trial (after a resume), or None."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=(f"tags.sweep = '{sweep}' and tags.stage = '{stage}' and tags.trial_id = '{trial_id}'"),
        max_results=1,
    )
    return runs[0] if runs else None


class MLflowTrialLogger(tune.Callback):
    """Tune callback on the driver: one MLflow run per trial, stable across resumes (keyed by trial id)."""

    def __init__(
        self,
        tracking_uri: str,
        experiment_id: str,
        tags: dict[str, str],
        searched: list[str],
    ) -> None:
        self.tracking_uri = tracking_uri
        self.experiment_id = experiment_id
        self.tags = tags
        self.searched = searched
        self._client: MlflowClient | None = None
        self._runs: dict[str, str] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_client": None, "_runs": {}}

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            self._client = MlflowClient(self.tracking_uri)
        return self._client

    def _run_name(self, config: dict[str, Any]) -> str:
        flat = flatten(config)
        parts = [self.tags["stage"], f"seed={flat.get('seed')}"]
        parts += [
            f"{key}={flat[key]:g}" if isinstance(flat[key], float) else f"{key}={flat[key]}"
            for key in self.searched
        ]
        return " ".join(parts)

    def run_id(self, trial) -> str:
        """The MLflow run of ``trial``, found again after a resume or created once."""
        if trial.trial_id in self._runs:
            return self._runs[trial.trial_id]
        existing = find_trial_run(
            self.client, self.experiment_id, self.tags["sweep"], self.tags["stage"], trial.trial_id
        )
        if existing is not None:
            run_id = existing.info.run_id
        else:
            config = flatten(trial.config)
            tags = {**self.tags, "seed": str(config.get("seed")), "trial_id": trial.trial_id}
            run = self.client.create_run(self.experiment_id, run_name=self._run_name(trial.config), tags=tags)
            run_id = run.info.run_id
            params = [Param(key, str(value)) for key, value in config.items()]
            for start in range(0, len(params), MAX_BATCH):
                self.client.log_batch(run_id, params=params[start : start + MAX_BATCH])
        self._runs[trial.trial_id] = run_id
        return run_id

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.run_id(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        step = int(result.get("training_iteration", 0))
        timestamp = int(result.get("timestamp", 0) * 1000)
        metrics = [
            Metric(key, float(value), timestamp, step)
            for key, value in result.items()
            if isinstance(value, (int, float))
            and not isinstance(value, bool)
            and key not in {"training_iteration", "timestamp", "pid", "time_this_iter_s"}
            and math.isfinite(value)
        ]
        tags = [RunTag(NODE_ID, str(result[NODE_ID]))] if NODE_ID in result else []
        self.client.log_batch(self.run_id(trial), metrics=metrics, tags=tags)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.client.set_terminated(self.run_id(trial), "FINISHED")

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.client.set_terminated(self.run_id(trial), "FAILED")


def tag_selected(
    tracking_uri: str, experiment_id: str, sweep: str, stage: str, label: str, trial_ids: list[str]
) -> None:
    """Tag the runs of selected trials: ``selected=true`` and ``selected_as.<label>=true``."""
    client = MlflowClient(tracking_uri)
    for trial_id in trial_ids:
        run = find_trial_run(client, experiment_id, sweep, stage, trial_id)
        if run is not None:
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
    with tempfile.TemporaryDirectory() as staging:
        for artifact in artifacts:
            local = Path(staging) / artifact.name
            local.write_bytes(artifact.read_bytes())
            client.log_artifact(run.info.run_id, str(local))
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id
