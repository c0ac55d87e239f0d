"""``bdlsweep sync-mlflow SWEEP_DIR``: record in MLflow what a sweep's storage holds and MLflow lacks.

Tune's results are the record of truth: when the tracking server was away during a sweep, this
creates the missing trial runs (found again by trial id, so nothing is duplicated), logs the metric
values of every report that MLflow does not have (by key and step), sets run status and the
``diverged`` / ``selected`` tags, and records the evaluation run if there is none.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from ray.tune import ExperimentAnalysis, ResultGrid

from bdlsweep.analysis import results
from bdlsweep.sweeps.pipeline import record_evaluation, write_tables
from bdlsweep.sweeps.run_tree import stage_run, sweep_run
from bdlsweep.sweeps.selection import Selection
from bdlsweep.sweeps.spec import StageSpec, SweepSpec
from bdlsweep.sweeps.stage import run_tags, selections_folder
from bdlsweep.sweeps.tracking import (
    MAX_BATCH,
    create_trial_run,
    ensure_experiment,
    result_records,
    tag_selected,
    tuner_runs,
)
from bdlsweep.trainables.reporting import COMPLETE, DIVERGED


@dataclass
class SyncCounts:
    """What a sync added to MLflow."""

    runs_created: int = 0
    metrics_logged: int = 0
    evaluation_recorded: bool = False


def _logged(client: MlflowClient, run_id: str) -> set[tuple[str, int]]:
    """(key, step) of every metric value a run holds."""
    keys = client.get_run(run_id).data.metrics
    return {(key, m.step) for key in keys for m in client.get_metric_history(run_id, key)}


def _sync_stage(
    client: MlflowClient, experiment_id: str, spec: SweepSpec, stage: StageSpec, root: str
) -> SyncCounts:
    counts = SyncCounts()
    parent = stage_run(spec, experiment_id, stage.name, root)
    for folder in results.experiment_folders(spec.storage, stage.name):
        tags = {**run_tags(spec, stage, folder.name), MLFLOW_PARENT_RUN_ID: parent}
        known = tuner_runs(client, experiment_id, tags)
        for result in ResultGrid(ExperimentAnalysis(str(folder))):
            if "trial_id" not in result.metrics:
                continue  # never reported: nothing to record
            trial_id = result.metrics["trial_id"]
            created = trial_id not in known
            run_id = known.get(trial_id) or create_trial_run(
                client, experiment_id, tags, list(stage.search), trial_id, result.config
            )
            counts.runs_created += created
            present = set() if created else _logged(client, run_id)
            missing: list[Metric] = []
            for report in result.metrics_dataframe.to_dict("records"):
                metrics, _ = result_records(report)
                missing += [m for m in metrics if (m.key, m.step) not in present]
            _, last_tags = result_records(result.metrics)
            for start in range(0, max(len(missing), 1), MAX_BATCH):
                client.log_batch(run_id, metrics=missing[start : start + MAX_BATCH], tags=last_tags)
            counts.metrics_logged += len(missing)
            if result.error is not None or result.metrics.get(DIVERGED):
                client.set_terminated(run_id, "FAILED")
            elif result.metrics.get(COMPLETE):
                client.set_terminated(run_id, "FINISHED")
    return counts


def sync_mlflow(spec: SweepSpec) -> SyncCounts:
    """Bring the sweep's MLflow experiment up to date with its storage; what was added."""
    experiment_id = ensure_experiment(spec.tracking_uri, spec.experiment, spec.storage / "mlartifacts")
    client = MlflowClient(spec.tracking_uri)
    counts = SyncCounts()
    root = sweep_run(spec, experiment_id)
    for stage in spec.stages.values():
        added = _sync_stage(client, experiment_id, spec, stage, root)
        counts.runs_created += added.runs_created
        counts.metrics_logged += added.metrics_logged
    for path in selections_folder(spec).children():
        if path.name.endswith(".json"):
            selection = Selection.load(path)
            trial_ids = [record.trial_id for record in selection.members.values()]
            tag_selected(
                spec.tracking_uri, experiment_id, spec.name, selection.stage, selection.label, trial_ids
            )
    evaluation = f"tags.sweep = '{spec.name}' and tags.stage = 'evaluate'"
    evaluated = client.search_runs([experiment_id], filter_string=evaluation, max_results=1)
    if not evaluated and (spec.storage / results.ENSEMBLES_FILE).is_file():
        frame = results.ensembles(spec.storage)
        _, files = write_tables(spec, frame)
        record_evaluation(spec, experiment_id, frame, files, root)
        counts.evaluation_recorded = True
    return counts
