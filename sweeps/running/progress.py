"""A one-line-per-trial progress log that reads well in a terminal and in a non-interactive log."""

from __future__ import annotations

import logging
import math

from ray import tune

from bdlsweep.analysis.number_text import short_number
from bdlsweep.sweeps.running.experiments import SELECTION_METRIC
from bdlsweep.sweeps.tracking.records import flatten
from bdlsweep.trainables.runtime.reporting import COMPLETE, DIVERGED

logger = logging.getLogger("bdlsweep.progress")


class TrialProgress(tune.Callback):
    """Logs each trial's end: stage, seed, searched values, and the validation metrics selection reads:
    for a stage that selects a trial's best checkpoint, those of its best checkpointed epoch (named),
    else those of its last report; a trial its stage's scheduler stopped says so."""

    def __init__(self, stage: str, searched: list[str], total: int, best_epoch: bool = False) -> None:
        self.stage = stage
        self.searched = searched
        self.total = total
        self.best_epoch = best_epoch
        self.finished = 0
        self.checkpointed: dict[str, dict] = {}

    def _describe(self, trial) -> str:
        config = flatten(trial.config)
        values = " ".join(f"{key}={short_number(config[key])}" for key in self.searched)
        return f"seed={config.get('seed')} {values}".strip()

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info) -> None:
        result = trial.last_result or {}
        best = self.checkpointed.get(trial.trial_id)
        if best is None or result.get(SELECTION_METRIC, -math.inf) > best.get(SELECTION_METRIC, -math.inf):
            self.checkpointed[trial.trial_id] = dict(result)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.finished += 1
        result = trial.last_result or {}
        where = ""
        if not result.get(COMPLETE) and not result.get(DIVERGED):
            where = f" (stopped early at step {result.get('training_iteration')})"
        elif self.best_epoch and trial.trial_id in self.checkpointed:
            result = self.checkpointed.pop(trial.trial_id)
            where = f" (best epoch {result.get('training_iteration')})"
        values = " ".join(
            f"{key}={value:.4f}"
            for key, value in result.items()
            if key.startswith("val_") and isinstance(value, int | float)
        )
        logger.info(
            "%s [%d/%d] %s: %s%s", self.stage, self.finished, self.total, self._describe(trial), values, where
        )

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.finished += 1
        logger.warning("%s [%d/%d] %s: FAILED", self.stage, self.finished, self.total, self._describe(trial))
