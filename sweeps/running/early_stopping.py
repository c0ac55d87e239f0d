"""What a stage's early stopping (``scheduler: asha``) means for its trials: a trial the scheduler
stopped is finished, never selected, and not an interruption.

Tune marks a trial its scheduler stopped TERMINATED, as it marks one that ran its whole budget; after
Ctrl+C it saves the unfinished trials as PENDING (to resume). So a stage's Tuner was interrupted when
its saved state holds a trial that is neither TERMINATED nor ERROR; a TERMINATED trial whose last
report is not its final one (``trial_complete``) and did not diverge was stopped early.
"""

from __future__ import annotations

import logging

from ray.tune import ExperimentAnalysis, Result, ResultGrid

from bdlsweep.sweeps.spec.models import StageSpec
from bdlsweep.trainables.runtime.reporting import COMPLETE, DIVERGED

logger = logging.getLogger(__name__)

ENDED = ("TERMINATED", "ERROR")


def stopped_early(result: Result) -> bool:
    """Whether a finished trial was stopped by the scheduler before its last step."""
    return result.error is None and not result.metrics.get(COMPLETE) and not result.metrics.get(DIVERGED)


def ran_whole_budget(result: Result) -> bool:
    """Whether a finished trial made its final report without diverging: a selection candidate."""
    return result.error is None and bool(result.metrics.get(COMPLETE)) and not result.metrics.get(DIVERGED)


def interrupted(stage: StageSpec, folder: str, grid: ResultGrid) -> bool:
    """Whether the stage's Tuner in ``folder`` stopped before all its trials ended (Ctrl+C, SIGTERM)."""
    if stage.scheduler is None:
        return any(stopped_early(result) for result in grid)
    return any(trial.status not in ENDED for trial in ExperimentAnalysis(folder).trials)


def check_stopped(stage: StageSpec, seeds: list[int], finished: list[Result]) -> None:
    """Log how many trials per seed the scheduler stopped; raise ``RuntimeError`` for a seed with none
    that ran its whole budget (nothing to select)."""
    if stage.scheduler is None:
        return
    for seed in seeds:
        own = [result for result in finished if int(result.config["seed"]) == seed]
        stopped = sum(stopped_early(result) for result in own)
        if stopped:
            total = len(own)
            logger.info("stage %s: seed=%s %d of %d trials stopped early", stage.name, seed, stopped, total)
        if own and not any(ran_whole_budget(result) for result in own):
            raise RuntimeError(
                f"stage {stage.name}: no trial of seed {seed} ran its whole budget ({stopped} stopped early, "
                f"the others diverged); raise scheduler.grace_epochs"
            )
