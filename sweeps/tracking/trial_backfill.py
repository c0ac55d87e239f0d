"""Log into MLflow what one Tuner's folder holds and MLflow lacks: missing trial runs and metric values.

Tune's results are the record of truth. ``bdlsweep sync-mlflow`` runs this for every Tuner of a
sweep after the tracking server was away; a stage resumed after its driver was killed runs it for
the Tuners it restored (the trial logger gathers results for a few seconds before logging them,
and a killed driver loses what it gathered).
"""

from __future__ import annotations

from pathlib import Path

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from ray.tune import ExperimentAnalysis, ResultGrid

from bdlsweep.sweeps.tracking.records import (
    MAX_BATCH,
    create_trial_run,
    logged_steps,
    result_records,
    tuner_runs,
)
from bdlsweep.trainables.runtime.reporting import COMPLETE, DIVERGED
from bdlsweep.trainables.runtime.suite_cell import CELL


def _logged(client: MlflowClient, run_id: str) -> set[tuple[str, int]]:
    """(key, step) of every metric value a run holds."""
    return {(key, step) for key, steps in logged_steps(client, run_id).items() for step in steps}


def backfill_tuner(
    client: MlflowClient,
    experiment_id: str,
    folder: str | Path,
    tags: dict[str, str],
    searched: list[str],
    cell_tags: dict[str, dict[str, str]] | None = None,
) -> tuple[int, int]:
    """Bring the runs of the Tuner in ``folder`` (its runs carry ``tags``, and a suite's trials the
    ``cell_tags`` of their cell) up to date with its results: create missing runs, log missing (key,
    step) values, set status; (runs created, values logged)."""
    known = tuner_runs(client, experiment_id, tags)
    created_runs = logged_values = 0
    for result in ResultGrid(ExperimentAnalysis(str(folder))):
        if "trial_id" not in result.metrics:
            continue  # never reported: nothing to record
        trial_id = result.metrics["trial_id"]
        created = trial_id not in known
        run_tags = {**tags, **(cell_tags or {}).get(result.config.get(CELL), {})}
        run_id = known.get(trial_id) or create_trial_run(
            client, experiment_id, run_tags, searched, trial_id, result.config
        )
        created_runs += created
        present = set() if created else _logged(client, run_id)
        missing: list[Metric] = []
        for report in result.metrics_dataframe.to_dict("records"):  # a restored trial's steps come twice
            metrics, _ = result_records(report)
            missing += [m for m in metrics if (m.key, m.step) not in present]
            present.update((m.key, m.step) for m in metrics)
        _, last_tags = result_records(result.metrics)
        for start in range(0, max(len(missing), 1), MAX_BATCH):
            client.log_batch(run_id, metrics=missing[start : start + MAX_BATCH], tags=last_tags)
        logged_values += len(missing)
        if result.error is not None or result.metrics.get(DIVERGED):
            client.set_terminated(run_id, "FAILED")
        elif result.metrics.get(COMPLETE):
            client.set_terminated(run_id, "FINISHED")
    return created_runs, logged_values
