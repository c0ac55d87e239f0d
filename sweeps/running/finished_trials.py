"""The trials of an interrupted Tuner that had finished: what each recorded, to replay on restore.

A trial's folder holds ``result.json`` (each report, appended by the driver as it came) and its
checkpoint folders, both more recent than Tune's experiment state after a killed driver. A trial whose
last attempt ended with a ``trial_complete`` report is replayed (``trainables.runtime.replay``) with
the reports selection needs: the final one, and for ``best`` methods the best checkpointed one before
it. A trial whose needed checkpoint folders are gone is left to Tune (trained again from its last
saved checkpoint).
"""

from __future__ import annotations

import math
from typing import Any

from pyarrow import fs
from ray.tune import Checkpoint, ExperimentAnalysis, Result, ResultGrid

from bdlsweep.sweeps.running.early_stopping import ENDED
from bdlsweep.sweeps.running.trial_reports import last_attempt, read_reports
from bdlsweep.trainables.runtime.replay import FinishedTrials, RecordedReport
from bdlsweep.trainables.runtime.reporting import COMPLETE, DIVERGED, SELECTION_METRIC

CHECKPOINT_KEY = "checkpoint_dir_name"
TUNE_KEYS = {  # what Tune adds to every report; training_iteration stays, so the step is the same
    "time_this_iter_s", "time_total_s", "timestamp", "date", "pid", "hostname", "node_ip", "done",
    "time_since_restore", "iterations_since_restore", "timesteps_since_restore", "timesteps_total",
    "episodes_total", "trial_id", "experiment_tag", "config", "should_checkpoint", CHECKPOINT_KEY,
}  # fmt: skip


def reports_to_replay(rows: list[dict[str, Any]], policy: str) -> list[dict[str, Any]]:
    """The reports that make a finished trial whole again ([] when its last attempt did not finish):
    the final one, after the best checkpointed one for ``best`` methods when that came earlier."""
    attempt = last_attempt(rows)
    if not attempt or not attempt[-1].get(COMPLETE):
        return []
    final = attempt[-1]
    if policy != "best" or final.get(DIVERGED):
        return [final]
    best = max((row for row in attempt if row.get(CHECKPOINT_KEY)), key=_score, default=final)
    return [best, final] if _score(best) > _score(final) else [final]


def _score(row: dict[str, Any]) -> float:
    return row.get(SELECTION_METRIC, -math.inf)


def _metrics(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key not in TUNE_KEYS}


def _checkpoint(result: Result, row: dict[str, Any]) -> Checkpoint | None:
    """The checkpoint a report made, when it made one and its folder is still there (else None)."""
    if not row.get(CHECKPOINT_KEY):
        return None
    path = f"{result.path}/{row[CHECKPOINT_KEY]}"
    if result.filesystem.get_file_info(path).type != fs.FileType.Directory:
        return None
    return Checkpoint(path, result.filesystem)


def finished_trials(folder: str, policy: str) -> FinishedTrials:
    """Trial id → the reports to replay, for each trial of the Tuner in ``folder`` that finished after
    Tune last saved it as unfinished."""
    finished: FinishedTrials = {}
    analysis = ExperimentAnalysis(folder)
    restored = {trial.trial_id for trial in analysis.trials if trial.status not in ENDED}  # Tune reruns them
    for result in ResultGrid(analysis):
        if result.metrics.get("trial_id") not in restored:
            continue
        chosen = reports_to_replay(read_reports(result.filesystem, result.path), policy)
        reports = tuple(RecordedReport(_metrics(row), _checkpoint(result, row)) for row in chosen)
        lost = [
            row
            for row, report in zip(chosen, reports, strict=True)
            if row.get(CHECKPOINT_KEY) and not report.checkpoint
        ]
        if reports and not lost and "trial_id" in chosen[-1]:
            finished[chosen[-1]["trial_id"]] = reports
    return finished
