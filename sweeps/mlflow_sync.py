"""``bdlsweep sync-mlflow SWEEP_DIR``: record in MLflow what a sweep's storage holds and MLflow lacks.

Tune's results are the record of truth: when the tracking server was away during a sweep, this
creates the missing trial runs (found again by trial id, so nothing is duplicated), logs the metric
values of every report that MLflow does not have (by key and step; ``trial_backfill``), sets run
status and the ``diverged`` / ``selected`` tags, and records the evaluation run if there is none.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from ray import tune

from bdlsweep.analysis import results
from bdlsweep.sweeps.pipeline import record_evaluation, write_tables
from bdlsweep.sweeps.running.experiments import experiments
from bdlsweep.sweeps.running.selection import Selection
from bdlsweep.sweeps.running.stage import run_tags, selection_labels, suite_cell_tags
from bdlsweep.sweeps.spec.models import StageSpec, SweepSpec
from bdlsweep.sweeps.tracking.records import ensure_experiment, tag_filter, tag_selected
from bdlsweep.sweeps.tracking.run_tree import stage_run, sweep_run
from bdlsweep.sweeps.tracking.trial_backfill import backfill_tuner
from bdlsweep.trainables.runtime.suite_cell import CELL


@dataclass
class SyncCounts:
    """What a sync added to MLflow."""

    runs_created: int = 0
    metrics_logged: int = 0
    evaluation_recorded: bool = False


def _sync_stage(
    client: MlflowClient, experiment_id: str, spec: SweepSpec, stage: StageSpec, root: str
) -> SyncCounts:
    counts = SyncCounts()
    parent = stage_run(spec, experiment_id, stage.name, root)
    searched = [CELL, *stage.search] if spec.cells else list(stage.search)
    for experiment in experiments(spec, stage):
        if not tune.Tuner.can_restore(experiment.folder):
            continue  # not started
        tags = {**run_tags(spec, stage, experiment.tune_experiment), MLFLOW_PARENT_RUN_ID: parent}
        created, logged = backfill_tuner(
            client, experiment_id, experiment.folder, tags, searched, suite_cell_tags(spec)
        )
        counts.runs_created += created
        counts.metrics_logged += logged
    finished = all(
        cell.layout.selection(label).is_file()
        for cell in spec.cell_specs()
        for label in selection_labels(spec, stage)
    )
    client.set_terminated(parent, "FINISHED" if finished else "KILLED")  # no run of it is going on
    return counts


def sync_mlflow(spec: SweepSpec) -> SyncCounts:
    """Bring the sweep's MLflow experiment up to date with its storage; what was added."""
    experiment_id = ensure_experiment(spec.tracking_uri, spec.experiment, spec.layout.mlflow_artifacts)
    client = MlflowClient(spec.tracking_uri)
    counts = SyncCounts()
    root = sweep_run(spec, experiment_id)
    for stage in spec.stages.values():
        added = _sync_stage(client, experiment_id, spec, stage, root)
        counts.runs_created += added.runs_created
        counts.metrics_logged += added.metrics_logged
    for cell in spec.cell_specs():
        counts.evaluation_recorded |= _sync_cell(client, experiment_id, cell, root)
    return counts


def _sync_cell(client: MlflowClient, experiment_id: str, spec: SweepSpec, root: str) -> bool:
    """Tag the selected runs of a sweep (or of a suite's cell) and record its evaluation if MLflow
    lacks it; whether the evaluation was recorded now."""
    for path in spec.layout.selections.children():
        if path.name.endswith(".json"):
            selection = Selection.load(path)
            trial_ids = [record.trial_id for record in selection.members.values()]
            tag_selected(
                spec.tracking_uri, experiment_id, spec.name, selection.stage, selection.label, trial_ids
            )
    evaluation = tag_filter(
        {"sweep": spec.name, "stage": "evaluate", **({"cell": spec.cell} if spec.cell else {})}
    )
    evaluated = client.search_runs([experiment_id], filter_string=evaluation, max_results=1)
    if evaluated or not spec.layout.ensembles.is_file():
        return False
    frame = results.ensembles(spec.storage)
    if spec.cell:
        frame = frame[frame["cell"] == spec.cell].drop(columns="cell").reset_index(drop=True)
    _, files = write_tables(spec, frame)
    record_evaluation(spec, experiment_id, frame, files, root)
    return True
