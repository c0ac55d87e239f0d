"""The MLflow run tree of a sweep, so the UI groups it: one parent run per sweep, one per stage below it
(the trial runs nest under their stage), and the evaluation run below the sweep with one child run per
evaluated ensemble (method, K and ensemble id as params, so the compare view can chart ELPD vs K).

Parent runs are found again by their tags, so a resumed sweep keeps one tree.
"""

from __future__ import annotations

import math

import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from bdlsweep.analysis.tables import final_test_rows
from bdlsweep.sweeps.spec.models import SweepSpec
from bdlsweep.sweeps.tracking.records import MAX_BATCH, tag_filter
from bdlsweep.trainables.registry import display_name

RUN_KIND = "run_kind"


def _parent_run(
    client: MlflowClient, experiment_id: str, tags: dict[str, str], name: str, parent: str | None
) -> str:
    """The run with exactly these identifying tags, created (nested under ``parent``) if there is none."""
    found = client.search_runs([experiment_id], filter_string=tag_filter(tags), max_results=1)
    if found:
        return found[0].info.run_id
    nesting = {MLFLOW_PARENT_RUN_ID: parent} if parent else {}
    return client.create_run(experiment_id, run_name=name, tags={**tags, **nesting}).info.run_id


def sweep_run(spec: SweepSpec, experiment_id: str) -> str:
    """The sweep's parent run (one per sweep name and storage)."""
    tags = {"sweep": spec.name, "storage": str(spec.storage), RUN_KIND: "sweep"}
    return _parent_run(MlflowClient(spec.tracking_uri), experiment_id, tags, spec.name, None)


def stage_run(spec: SweepSpec, experiment_id: str, stage: str, parent: str) -> str:
    """A stage's parent run, nested under the sweep's."""
    tags = {"sweep": spec.name, "storage": str(spec.storage), RUN_KIND: "stage", "stage_name": stage}
    return _parent_run(MlflowClient(spec.tracking_uri), experiment_id, tags, f"{spec.name} {stage}", parent)


def log_ensembles(
    client: MlflowClient, experiment_id: str, evaluation: str, sweep: str, frame: pd.DataFrame
) -> int:
    """One child run of the evaluation run per ensemble: its test metrics at its largest number of
    posterior samples, method / K / ensemble id / members as params; how many were logged."""
    rows = final_test_rows(frame)
    columns = [column for column in rows.columns if column.startswith("test_")]
    for row in rows.itertuples(index=False):
        record = row._asdict()
        name = f"{display_name(record['method'], record['K'])} K={record['K']} #{record['ensemble_id']}"
        tags = {"sweep": sweep, RUN_KIND: "ensemble", MLFLOW_PARENT_RUN_ID: evaluation}
        run = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
        params = [
            Param(key, str(record[key])) for key in ("method", "K", "ensemble_id", "members") if key in record
        ]
        metrics = [
            Metric(column, float(record[column]), 0, 0)
            for column in columns
            if isinstance(record[column], (int, float)) and math.isfinite(record[column])
        ]
        client.log_batch(
            run, metrics=metrics[:MAX_BATCH], params=params, tags=[RunTag("method", record["method"])]
        )
        client.set_terminated(run, "FINISHED")
    return len(rows)
