"""A one-line-per-trial progress log that reads well in a terminal and in a non-interactive log."""

from __future__ import annotations

import logging

from ray import tune

from bdlsweep.sweeps.tracking import flatten

logger = logging.getLogger("bdlsweep.progress")


class TrialProgress(tune.Callback):
    """Logs each trial's end: stage, seed, searched values, validation ELPD and accuracy."""

    def __init__(self, stage: str, searched: list[str], total: int) -> None:
        self.stage = stage
        self.searched = searched
        self.total = total
        self.finished = 0

    def _describe(self, trial) -> str:
        config = flatten(trial.config)
        values = " ".join(f"{key}={config[key]}" for key in self.searched)
        return f"seed={config.get('seed')} {values}".strip()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.finished += 1
        result = trial.last_result or {}
        values = " ".join(
            f"{key}={value:.4f}"
            for key, value in result.items()
            if key.startswith("val_") and isinstance(value, int | float)
        )
        logger.info("%s [%d/%d] %s: %s", self.stage, self.finished, self.total, self._describe(trial), values)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.finished += 1
        logger.warning("%s [%d/%d] %s: FAILED", self.stage, self.finished, self.total, self._describe(trial))
