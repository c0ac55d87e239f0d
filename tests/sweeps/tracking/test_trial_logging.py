"""What a trial reports reaches MLflow whole though gathered, and checkpoints follow their cadence."""

import pickle
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from mlflow.tracking import MlflowClient
from ray import tune

from bdlsweep.storage.locations import Location
from bdlsweep.sweeps.tracking.records import ensure_experiment
from bdlsweep.sweeps.tracking.trial_logger import MLflowTrialLogger
from bdlsweep.trainables.runtime.reporting import report

TAGS = {
    "sweep": "s",
    "stage": "map",
    "storage": "/s",
    "method": "map",
    "tune_experiment": "map",
    "run_kind": "trial",
}


def _logger(tmp_path: Path, batch_s: float) -> tuple[MLflowTrialLogger, MlflowClient]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id = ensure_experiment(uri, "e", Location.parse(str(tmp_path / "artifacts")))
    return MLflowTrialLogger(uri, experiment_id, TAGS, searched=[], batch_s=batch_s), MlflowClient(uri)


def _result(step: int, at: int = 0) -> dict:
    """A Tune result of ``step``, reported ``at`` seconds later than first (a re-run step)."""
    return {
        "training_iteration": step,
        "timestamp": 1_700_000_000 + step + at,
        "val_elpd": -1.0 / step,
        "node_id": "n",
    }


def test_gathered_results_are_logged_every_batch_interval_and_when_the_trial_ends(tmp_path):
    tracker, client = _logger(tmp_path, batch_s=3600.0)
    trial = SimpleNamespace(trial_id="t1", config={"seed": 0}, last_result={})
    tracker.setup()
    tracker.on_trial_start(0, [trial], trial)
    run_id = tracker.run_id(trial)
    for step in (1, 2, 3):
        tracker.on_trial_result(0, [trial], trial, _result(step))
    tracker.on_step_end(0, [trial])
    assert tracker.wait_sent()
    assert client.get_metric_history(run_id, "val_elpd") == []  # the interval has not passed
    tracker.batch_s = 0.0
    tracker.on_step_end(0, [trial])
    assert tracker.wait_sent()
    assert [m.step for m in client.get_metric_history(run_id, "val_elpd")] == [1, 2, 3]
    tracker.on_trial_result(0, [trial], trial, _result(4))
    trial.last_result = _result(4)
    tracker.batch_s = 3600.0
    tracker.on_trial_complete(0, [trial], trial)
    assert tracker.wait_sent()
    history = client.get_metric_history(run_id, "val_elpd")
    assert [(m.step, m.value) for m in history] == [(s, -1.0 / s) for s in (1, 2, 3, 4)]
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["node_id"] == "n"
    assert (run.data.tags["selected"], run.data.tags["diverged"]) == ("false", "false")  # UI filters


def test_a_trial_with_more_metrics_than_one_batch_holds_is_logged_in_several(tmp_path):
    tracker, client = _logger(tmp_path, batch_s=3600.0)
    trial = SimpleNamespace(trial_id="t2", config={"seed": 1}, last_result={})
    tracker.on_trial_start(0, [trial], trial)
    for step in range(1, 1202):
        tracker.on_trial_result(0, [trial], trial, _result(step))
    tracker.on_experiment_end([trial])
    assert len(client.get_metric_history(tracker.run_id(trial), "val_elpd")) == 1201


def test_steps_a_restored_trial_reports_again_are_logged_once(tmp_path):
    tracker, client = _logger(tmp_path, batch_s=0.0)
    trial = SimpleNamespace(trial_id="t3", config={"seed": 2}, last_result={})
    tracker.setup()
    tracker.on_trial_start(0, [trial], trial)
    for step in (1, 2, 3):
        tracker.on_trial_result(0, [trial], trial, _result(step))
        tracker.on_step_end(0, [trial])
    assert tracker.wait_sent()
    restored = pickle.loads(pickle.dumps(tracker))  # as Tune restores its callbacks after a killed driver
    restored.setup()
    for step in (2, 3, 4, 5):  # the trial resumes from its checkpoint at step 1
        restored.on_trial_result(0, [trial], trial, _result(step, at=60))
        restored.on_step_end(0, [trial])
    trial.last_result = _result(5)
    restored.on_trial_complete(0, [trial], trial)
    assert restored.wait_sent()
    run_id = restored.run_id(trial)
    assert run_id == tracker.run_id(trial)
    assert [m.step for m in client.get_metric_history(run_id, "val_elpd")] == [1, 2, 3, 4, 5]
    restored.on_trial_result(0, [trial], trial, _result(5, at=120))  # a retried trial, same driver
    restored.on_experiment_end([trial])
    assert len(client.get_metric_history(run_id, "val_elpd")) == 5


@pytest.mark.parametrize(("every_s", "checkpointed"), [(3600.0, [1, 4, 6]), (0.0, [1, 2, 3, 4, 5, 6])])
def test_reports_carry_a_checkpoint_first_on_a_new_best_at_the_end_and_when_due(
    tmp_path, ray_session, every_s, checkpointed
):
    class SavedFolder:  # stands in for a posterior (defined here so that Ray ships it by value)
        def save(self, folder: Path) -> None:
            folder.mkdir(parents=True)
            (folder / "state.txt").write_text("saved")

    def trial(config: dict) -> None:
        for step in range(1, 7):
            report(
                {"step": step, "val_elpd": float(step)},
                SavedFolder(),
                final=step == 6,
                every_s=config["every_s"],
                keep=step == 4,
            )

    tuner = tune.Tuner(
        trial,
        param_space={"every_s": every_s},
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="cadence", verbose=0),
    )
    result = tuner.fit()[0]
    assert result.error is None
    steps = sorted(metrics["step"] for _, metrics in result.best_checkpoints)
    assert steps == checkpointed


def test_a_tune_result_row_gives_its_metrics_and_never_its_config_columns():
    from bdlsweep.sweeps.tracking.records import result_records

    row = {"val_elpd": -0.5, "config/seed": 3, "config/optimizer/lr": 0.01, "training_iteration": 4,
           "timestamp": 1.5, "done": False, "val_acc": float("nan"), "diverged": True}  # fmt: skip
    metrics, tags = result_records(row)
    assert [(m.key, m.value, m.step) for m in metrics] == [("val_elpd", -0.5, 4)]
    assert [(t.key, t.value) for t in tags] == [("diverged", "true")]


def test_only_a_4xx_answer_is_a_refused_record_a_5xx_or_no_answer_waits():
    import requests
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST

    from bdlsweep.sweeps.tracking.records import refused

    assert refused(MlflowException("bad value", error_code=INVALID_PARAMETER_VALUE))
    assert refused(MlflowException("deleted run", error_code=RESOURCE_DOES_NOT_EXIST))
    assert not refused(MlflowException("too many 500 error responses", error_code=INTERNAL_ERROR))
    assert not refused(requests.ConnectionError("connection refused"))


def test_tunes_loop_never_waits_on_the_tracking_store(tmp_path):
    tracker, client = _logger(tmp_path, batch_s=0.0)
    trials = [SimpleNamespace(trial_id=f"t{i}", config={"seed": i}, last_result={}) for i in range(3)]
    for trial in trials:
        tracker.on_trial_start(0, trials, trial)
    assert tracker.wait_sent()
    release = threading.Event()
    original = tracker.client.log_batch

    def blocked_log_batch(*args, **kwargs):
        release.wait(30)  # a store that answers only when the test lets it
        return original(*args, **kwargs)

    tracker.client.log_batch = blocked_log_batch
    for trial in trials:
        tracker.on_trial_result(0, trials, trial, _result(1))
    tracker.on_step_end(0, trials)  # returns while the store is still blocked
    tracker.on_trial_complete(0, trials, trials[0])
    assert not release.is_set() and not tracker.wait_sent(timeout_s=0.2)
    release.set()
    assert tracker.wait_sent()
    assert all(client.get_metric_history(tracker.run_id(t), "val_elpd") for t in trials)
    assert client.get_run(tracker.run_id(trials[0])).info.status == "FINISHED"
