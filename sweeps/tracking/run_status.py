"""The MLflow status of a sweep's and its stages' parent runs: RUNNING while they run (again, when a
sweep is resumed), then FINISHED, KILLED (interrupted) or FAILED, so no record stays RUNNING."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from mlflow.tracking import MlflowClient

from bdlsweep.sweeps.tracking.server_check import while_reachable


class StageInterrupted(RuntimeError):  # noqa: N818 (an interruption, not an error)
    """A stage stopped before all its trials finished (Ctrl+C); running again resumes it."""


@contextlib.contextmanager
def run_status(tracking_uri: str, run_id: str | None, what: str) -> Iterator[None]:
    """Mark MLflow run ``run_id`` (``what``, e.g. "stage swag") RUNNING while the block runs, then
    FINISHED when it ends, KILLED when it is interrupted, FAILED when it raises."""
    if run_id is None:
        yield
        return
    client = MlflowClient(tracking_uri)
    while_reachable(tracking_uri, f"{what} not marked running", lambda: client.update_run(run_id, "RUNNING"))
    status = "FAILED"
    try:
        yield
        status = "FINISHED"
    except (KeyboardInterrupt, StageInterrupted):
        status = "KILLED"
        raise
    finally:
        while_reachable(
            tracking_uri, f"{what} not marked {status}", lambda: client.set_terminated(run_id, status)
        )
