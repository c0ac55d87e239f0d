"""Finish, without training, a trial that had finished when its driver was killed: report its recorded
results again.

Tune restores a trial from the checkpoint its last saved experiment state names, which can lag the
trial by many seconds. A trial that reported ``trial_complete`` after that save would otherwise be
trained again from an earlier checkpoint. The driver reads what each trial recorded in its folder
(``sweeps.finished_trials``) and hands the restored Tuner's trials those reports; a trial found there
re-reports them, with their checkpoints and their own ``training_iteration``, so that Tune, MLflow and
selection see the same trial as before the kill.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import tune


@dataclass(frozen=True)
class RecordedReport:
    """One report a trial made before its driver was killed: its metrics and checkpoint (None: none)."""

    metrics: dict[str, Any]
    checkpoint: tune.Checkpoint | None


FinishedTrials = dict[str, tuple[RecordedReport, ...]]


def replay(reports: tuple[RecordedReport, ...]) -> None:
    """Report ``reports`` again in order. Every checkpoint is copied to this node first: the restored
    trial's next checkpoint folders may carry the names the recorded ones have."""
    with tempfile.TemporaryDirectory(prefix="bdlsweep-replay-") as folder:
        copies = [
            _local_copy(report.checkpoint, Path(folder, str(index))) for index, report in enumerate(reports)
        ]
        for report, copy in zip(reports, copies, strict=True):
            tune.report(report.metrics, checkpoint=copy)


def _local_copy(checkpoint: tune.Checkpoint | None, folder: Path) -> tune.Checkpoint | None:
    """``checkpoint`` copied into ``folder`` on this node (None stays None)."""
    if checkpoint is None:
        return None
    return tune.Checkpoint.from_directory(checkpoint.to_directory(str(folder)))


def replaying(train: Callable[[dict[str, Any], Any], None]) -> Callable[..., None]:
    """``train(config, context)`` as a trainable that takes ``finished`` (trial id → recorded reports)
    too, and replays a trial found there instead of training it; it keeps ``train``'s name, which
    Tune uses for the trial folders."""

    def trial(config: dict[str, Any], context: Any, finished: FinishedTrials) -> None:
        reports = finished.get(tune.get_context().get_trial_id())
        if reports is None:
            train(config, context)
        else:
            replay(reports)

    trial.__name__ = train.__name__
    trial.__qualname__ = train.__qualname__
    trial.__doc__ = train.__doc__
    return trial
