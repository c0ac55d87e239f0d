"""A Tuner stopped early by ASHA and interrupted by Ctrl+C stops, once resumed, the trials an
uninterrupted one stops: the restored scheduler's rungs hold what the trials reported before."""

import json
import os
import signal
import sys
import tempfile
from pathlib import Path

import pytest
from ray import cloudpickle, tune
from ray.tune.schedulers import ASHAScheduler

from bdlsweep.sweeps.running.resumable_asha import ResumableASHA

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray's workers cannot import test modules

STEPS = 6
QUALITIES = [0.5, 0.9, 0.2, 0.7, 0.4, 1.0, 0.1, 0.8, 0.3, 0.6]


def _climb(config: dict) -> None:
    """Reports ``quality × step`` each step, with a checkpoint, resuming after its last checkpoint."""
    step = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        step = json.loads((Path(checkpoint.path) / "step.json").read_text())
    while step < STEPS:
        step += 1
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "step.json").write_text(json.dumps(step))
            checkpoint = tune.Checkpoint.from_directory(folder)
            tune.report({"score": config["quality"] * step}, checkpoint=checkpoint)


class _CtrlCOnce(tune.Callback):
    """Sends this driver SIGINT (Ctrl+C) at the ``after``-th report, once per ``flag`` file."""

    def __init__(self, flag: Path, after: int) -> None:
        self.flag, self.after, self.seen = flag, after, 0

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self.seen += 1
        if self.seen == self.after and not self.flag.exists():
            self.flag.touch()
            os.kill(os.getpid(), signal.SIGINT)


def _steps_run(scheduler: ASHAScheduler, folder: Path, interrupt_after: int | None) -> dict[float, int]:
    """Quality → the last step its trial reported, for a Tuner run whole or interrupted and resumed."""
    folder.mkdir()
    flag = folder / "interrupted"
    if interrupt_after is None:
        flag.touch()
    tuner = tune.Tuner(
        _climb,
        param_space={"quality": tune.grid_search(QUALITIES)},
        tune_config=tune.TuneConfig(
            metric="score", mode="max", scheduler=scheduler, max_concurrent_trials=1, reuse_actors=True
        ),
        run_config=tune.RunConfig(
            name="asha",
            storage_path=str(folder),
            callbacks=[_CtrlCOnce(flag, interrupt_after or 0)],
            verbose=0,
        ),
    )
    grid = tuner.fit()
    if interrupt_after is not None:
        assert sum(result.metrics.get("training_iteration", 0) for result in grid) < STEPS * len(QUALITIES)
        grid = tune.Tuner.restore(str(folder / "asha"), _climb, resume_unfinished=True).fit()
    return {result.config["quality"]: result.metrics["training_iteration"] for result in grid}


def _asha(kind: type[ASHAScheduler]) -> ASHAScheduler:
    return kind(time_attr="training_iteration", max_t=STEPS, grace_period=1, reduction_factor=2)


@pytest.mark.parametrize("kind", [ResumableASHA, ASHAScheduler])
def test_a_resumed_asha_stops_the_trials_an_uninterrupted_one_stops(kind, tmp_path, ray_session):
    whole = _steps_run(_asha(kind), tmp_path / "whole", interrupt_after=None)
    assert 0 < sum(steps < STEPS for steps in whole.values()) < len(QUALITIES)  # some stopped, some not
    resumed = _steps_run(_asha(kind), tmp_path / "resumed", interrupt_after=20)
    if kind is ResumableASHA:
        assert resumed == whole
    else:  # Ray's own ASHA forgets its rungs on restore: the reason ResumableASHA exists
        assert resumed != whole
