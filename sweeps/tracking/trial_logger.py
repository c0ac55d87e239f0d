"""The Tune callback that records each trial as one MLflow run, and survives the server going away."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient
from ray import tune

from bdlsweep.sweeps.tracking.records import (
    MAX_BATCH,
    UNREACHABLE,
    create_trial_run,
    logged_steps,
    refused,
    result_records,
    tuner_runs,
)
from bdlsweep.sweeps.tracking.server_check import unreachable_reason
from bdlsweep.trainables.runtime.reporting import COMPLETE, DIVERGED
from bdlsweep.trainables.runtime.suite_cell import CELL

STOPPED_EARLY = "stopped_early"

logger = logging.getLogger(__name__)


SENDER_POLL_S = 1.0  # how often the sender looks again at records waiting for a server that was away


class MLflowTrialLogger(tune.Callback):
    """Tune callback on the driver: one MLflow run per trial, stable across resumes (keyed by trial id).

    A trial's results are gathered and logged together at most every ``batch_s`` seconds (and when
    the trial ends): one ``log_batch`` costs the driver about as much for one epoch's metrics as for
    a hundred, and the driver shares the machine's cores with the trials. Records are sent in order by
    one background thread, so Tune's loop never waits on the store (a SQLite commit on a machine whose
    cores are busy training took up to a second, and Ray warned of each "performance bottleneck").
    When the tracking server cannot be reached, records wait in order and are sent once it answers
    again (tried at most every ``retry_s`` seconds), so trials go on training meanwhile; what is
    still waiting when the driver stops is in Tune's results, which ``bdlsweep sync-mlflow`` logs.
    A metric point is sent only when its step is past the last one its run holds for that key: a
    trial restored from a checkpoint (after a failure or a killed driver) reports those steps again.
    """

    def __init__(
        self,
        tracking_uri: str,
        experiment_id: str,
        tags: dict[str, str],
        searched: list[str],
        retry_s: float = 30.0,
        batch_s: float = 5.0,
        cell_tags: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.experiment_id = experiment_id
        self.tags = tags
        self.searched = searched
        self.cell_tags = cell_tags or {}
        self.retry_s = retry_s
        self.batch_s = batch_s
        self._client: MlflowClient | None = None
        self._runs: dict[str, str] = {}
        self._pending: list[Callable[[], None]] = []
        self._retry_at = 0.0
        self._gathered: dict[str, tuple[Any, list[Metric], dict[str, RunTag]]] = {}
        self._gathered_since = 0.0
        self._last_steps: dict[str, dict[str, int]] = {}  # run id → metric key → last step it holds
        self._start_threading()

    def _start_threading(self) -> None:
        self._queue_lock = threading.Lock()  # guards _pending
        self._record_lock = threading.RLock()  # one record (or run lookup) at a time
        self._wake = threading.Event()
        self._sender: threading.Thread | None = None
        self._closing = False

    def __getstate__(self) -> dict[str, Any]:
        unsent = {"_pending": [], "_retry_at": 0.0, "_gathered": {}, "_gathered_since": 0.0}
        threads = {"_queue_lock": None, "_record_lock": None, "_wake": None, "_sender": None}
        return {**self.__dict__, "_client": None, "_runs": {}, "_last_steps": {}, **unsent, **threads}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._start_threading()

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            self._client = MlflowClient(self.tracking_uri)
        return self._client

    def _send(self, record: Callable[[], None]) -> None:
        """Queue ``record`` for the sender thread, after those waiting."""
        with self._queue_lock:
            self._pending.append(record)
        if self._sender is None:
            self._sender = threading.Thread(
                target=self._send_waiting, name="mlflow-trial-logger", daemon=True
            )
            self._sender.start()
        self._wake.set()

    def _send_waiting(self) -> None:
        """The sender thread: send what waits whenever woken (or, while the server is away, when its
        retry time has come) until the experiment ends."""
        while not self._closing:
            self._wake.wait(SENDER_POLL_S)
            self._wake.clear()
            if not self._closing and time.monotonic() >= self._retry_at:
                self._flush()

    def wait_sent(self, timeout_s: float = 60.0) -> bool:
        """Wait until every queued record is sent (True), or the server is away or ``timeout_s`` passed."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._queue_lock:
                if not self._pending:
                    return True
            if self._retry_at:
                return False
            time.sleep(0.01)
        return False

    def _stop_sender(self) -> None:
        if self._sender is not None:
            self._closing = True
            self._wake.set()
            self._sender.join()
            self._sender, self._closing = None, False

    def _flush(self) -> None:
        """Send the waiting records in order; stop at the first failure while the server is away."""
        while True:
            with self._queue_lock:
                if not self._pending:
                    break
                record = self._pending[0]
            try:
                with self._record_lock:
                    record()
            except UNREACHABLE as error:
                if refused(error) and unreachable_reason(self.tracking_uri) is None:
                    logger.warning("MLflow refused a record, dropped: %s", str(error).splitlines()[0][:200])
                else:
                    if self._retry_at == 0.0:
                        logger.warning(
                            "MLflow at %s cannot store records now (%s); trials go on and their records "
                            "wait for it",
                            self.tracking_uri,
                            str(error).splitlines()[0][:200],
                        )
                    self._retry_at = time.monotonic() + self.retry_s
                    return
            with self._queue_lock:
                self._pending.pop(0)
        self._retry_at = 0.0

    def run_id(self, trial) -> str:
        """The MLflow run of ``trial``: recorded before (after a resume) or created once."""
        with self._record_lock:
            return self._run_id(trial)

    def _run_id(self, trial) -> str:
        if trial.trial_id not in self._runs:
            tags = {**self.tags, **self.cell_tags.get(trial.config.get(CELL), {})}
            run_id = create_trial_run(
                self.client, self.experiment_id, tags, self.searched, trial.trial_id, trial.config
            )
            self._runs[trial.trial_id] = run_id
            self._last_steps[run_id] = {}
        return self._runs[trial.trial_id]

    def _load_runs(self) -> None:
        self._runs.update(tuner_runs(self.client, self.experiment_id, self.tags))

    def setup(self, **info) -> None:
        self._send(self._load_runs)

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._send(lambda: self.run_id(trial))

    def _log_gathered(self, trial_id: str) -> None:
        """Queue a trial's gathered metrics and tags (if any) as ``log_batch`` calls in MLflow's limits."""
        if trial_id not in self._gathered:
            return
        trial, metrics, tags = self._gathered.pop(trial_id)
        self._send(lambda: self._log_unsent(trial, metrics, list(tags.values())))

    def _log_unsent(self, trial, metrics: list[Metric], tags: list[RunTag]) -> None:
        """Log the points of ``metrics`` the trial's run does not hold yet, then ``tags``; a retry after
        a failure part way sends only what is still missing."""
        run_id = self.run_id(trial)
        if run_id not in self._last_steps:  # a run of an earlier driver
            logged = logged_steps(self.client, run_id)
            self._last_steps[run_id] = {key: max(steps) for key, steps in logged.items()}
        last = self._last_steps[run_id]
        unsent = [metric for metric in metrics if metric.step > last.get(metric.key, -1)]
        chunks = [unsent[start : start + MAX_BATCH] for start in range(0, len(unsent), MAX_BATCH)] or [[]]
        for index, chunk in enumerate(chunks):
            last_chunk = index == len(chunks) - 1  # the tags ride with it: one commit fewer per trial
            if chunk or (last_chunk and tags):
                self.client.log_batch(run_id, metrics=chunk, tags=tags if last_chunk else [])
            for metric in chunk:
                last[metric.key] = max(metric.step, last.get(metric.key, -1))

    def _log_all_gathered(self) -> None:
        for trial_id in list(self._gathered):
            self._log_gathered(trial_id)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        metrics, tags = result_records(result)
        if not self._gathered:
            self._gathered_since = time.monotonic()
        _, gathered, latest_tags = self._gathered.setdefault(trial.trial_id, (trial, [], {}))
        gathered += metrics
        latest_tags.update({tag.key: tag for tag in tags})

    def on_step_end(self, iteration, trials, **info) -> None:
        """Queue the gathered results once ``batch_s`` has passed since the first of them."""
        if self._gathered and time.monotonic() - self._gathered_since >= self.batch_s:
            self._log_all_gathered()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        status = "FAILED" if trial.last_result.get(DIVERGED) else "FINISHED"
        self._log_gathered(trial.trial_id)
        if not trial.last_result.get(COMPLETE) and status == "FINISHED":  # the stage's scheduler stopped it
            self._send(lambda: self.client.set_tag(self.run_id(trial), STOPPED_EARLY, "true"))
        self._send(lambda: self.client.set_terminated(self.run_id(trial), status))

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._log_gathered(trial.trial_id)
        self._send(lambda: self.client.set_terminated(self.run_id(trial), "FAILED"))

    def on_experiment_end(self, trials, **info) -> None:
        self._log_all_gathered()
        self._stop_sender()
        self._flush()
        if self._pending:
            logger.warning(
                "MLflow at %s still unreachable: %d record(s) of stage %s are only in Tune's results; "
                "run `bdlsweep sync-mlflow SWEEP_DIR` when it is back",
                self.tracking_uri,
                len(self._pending),
                self.tags["stage"],
            )
