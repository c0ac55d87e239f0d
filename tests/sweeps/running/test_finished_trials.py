"""A trial that finished after Tune last saved its state is restored as finished: replayed, not trained."""

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from ray import tune

from bdlsweep.sweeps.running.finished_trials import finished_trials, reports_to_replay
from bdlsweep.sweeps.running.trial_reports import last_attempt
from bdlsweep.trainables.runtime.replay import replaying

SCORES = [-3.0, -2.0, -0.5, -1.0, -1.5]  # the best report is the third; the last is worse


def _row(iteration: int, score: float, checkpoint: bool = False, complete: bool = False) -> dict:
    row = {"training_iteration": iteration, "val_elpd": score, "trial_complete": complete}
    return row | ({"checkpoint_dir_name": f"checkpoint_{iteration:06d}"} if checkpoint else {})


def test_the_last_attempt_starts_after_the_last_fall_of_the_iteration():
    rows = [_row(1, -3), _row(2, -2), _row(3, -1), _row(2, -2), _row(3, -1), _row(4, -0.5)]
    assert [row["training_iteration"] for row in last_attempt(rows)] == [2, 3, 4]


def test_a_finished_trial_replays_its_final_report_after_its_best_checkpointed_one():
    rows = [_row(1, -3, True), _row(2, -0.5, True), _row(3, -0.2), _row(4, -1.0, True, complete=True)]
    assert reports_to_replay(rows, "best") == [rows[1], rows[3]]  # the best unsaved epoch cannot be had
    assert reports_to_replay(rows, "last") == [rows[3]]
    rows[3]["val_elpd"] = 0.0
    assert reports_to_replay(rows, "best") == [rows[3]]


def test_an_unfinished_last_attempt_is_left_to_tune():
    rows = [_row(1, -3, True), _row(2, -1, True, complete=True), _row(2, -1, True)]
    assert reports_to_replay(rows, "last") == []
    assert reports_to_replay([], "best") == []


class _KeepFirstState(tune.Callback):
    """Copies the experiment folder's saved state at the trial's first result: what a driver killed
    later would leave behind (Tune saves its state every ten seconds or more)."""

    def __init__(self, folder: Path, aside: Path) -> None:
        self.folder, self.aside = folder, aside

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if result["training_iteration"] == 1:
            for state in self.folder.glob("experiment_state-*.json"):
                shutil.copy(state, self.aside / state.name)


@pytest.mark.parametrize("policy", ["best", "last"])
def test_a_restored_trial_that_had_finished_is_replayed_not_trained(tmp_path, ray_session, policy):
    def _train(config: dict, context: dict) -> None:
        """Reports SCORES, each with a checkpoint, and counts its calls (here: Ray ships it by value)."""
        calls = Path(context["calls"])
        calls.write_text(str(int(calls.read_text() or 0) + 1) if calls.exists() else "1")
        for step, score in enumerate(SCORES, start=1):
            with tempfile.TemporaryDirectory() as folder:
                (Path(folder) / "step.txt").write_text(str(step))
                metrics = {"epoch": step, "val_elpd": score, "trial_complete": step == len(SCORES)}
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))

    folder, aside = tmp_path / "tuner", tmp_path / "aside"
    aside.mkdir()
    context = {"calls": str(tmp_path / "calls")}
    checkpoints = tune.CheckpointConfig(
        num_to_keep=2, checkpoint_score_attribute="val_elpd" if policy == "best" else None
    )
    run_config = tune.RunConfig(
        name="tuner",
        storage_path=str(tmp_path),
        checkpoint_config=checkpoints,
        callbacks=[_KeepFirstState(folder, aside)],
        verbose=0,
    )
    trainable = tune.with_parameters(replaying(_train), context=context, finished={})
    tune.Tuner(trainable, param_space={"seed": 0}, run_config=run_config).fit()
    assert (tmp_path / "calls").read_text() == "1"
    for state in folder.glob("experiment_state-*.json"):  # the driver "was killed" after the first report
        state.unlink()
    for state in aside.iterdir():
        shutil.copy(state, folder / state.name)
    assert tune.Tuner.can_restore(str(folder))

    finished = finished_trials(str(folder), policy)
    assert len(finished) == 1
    trainable = tune.with_parameters(replaying(_train), context=context, finished=finished)
    result = tune.Tuner.restore(str(folder), trainable).fit()[0]

    assert (tmp_path / "calls").read_text() == "1"  # not trained again
    assert result.error is None and result.metrics["trial_complete"] and result.metrics["epoch"] == 5
    assert result.metrics["training_iteration"] == len(SCORES)
    if policy == "best":
        best, metrics = max(result.best_checkpoints, key=lambda pair: pair[1]["val_elpd"])
        assert metrics["epoch"] == 3 and (Path(best.path) / "step.txt").read_text() == "3"
    else:
        assert (Path(result.checkpoint.path) / "step.txt").read_text() == "5"
    rows = [json.loads(line) for line in (Path(result.path) / "result.json").read_text().splitlines()]
    assert [row["epoch"] for row in last_attempt(rows)] == ([3, 5] if policy == "best" else [5])
