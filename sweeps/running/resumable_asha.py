"""Ray Tune's ASHA whose rungs survive an interruption, so a resumed stage stops the trials an
uninterrupted one would.

Tune saves neither a scheduler's state in its experiment state nor a way to pass one to
``Tuner.restore``: the restored ASHA starts with empty rungs, and a trial restored below a rung is then
judged against only the trials that reach that rung after the restore. Every trial, restored or not,
passes through ``on_trial_add``; there this scheduler feeds the trial's recorded reports (its folder's
``result.json``) back through ``on_trial_result``, which records each rung value it reached, as the
scheduler did when they first came. A new trial has no reports and adds nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler

from bdlsweep.sweeps.running.trial_reports import read_reports

if TYPE_CHECKING:
    from ray.tune.execution.tune_controller import TuneController


class ResumableASHA(ASHAScheduler):
    """ASHA (Ray Tune's ``ASHAScheduler``) that rebuilds its rungs from each trial's recorded reports."""

    def on_trial_add(self, tune_controller: TuneController, trial: Trial) -> None:
        super().on_trial_add(tune_controller, trial)
        storage = trial.storage
        if storage is None or not storage.trial_dir_name:
            return
        for report in read_reports(storage.storage_filesystem, storage.trial_fs_path):
            self.on_trial_result(tune_controller, trial, report)
