"""The sweep's and stages' MLflow parent runs end FINISHED, KILLED (interrupted) or FAILED, and a
resumed sweep marks them RUNNING again while it runs."""

import contextlib

import pytest
from mlflow.tracking import MlflowClient

from bdlsweep.sweeps.tracking.run_status import StageInterrupted, run_status


@pytest.mark.parametrize(
    ("raised", "status"),
    [
        (None, "FINISHED"),
        (StageInterrupted("stop"), "KILLED"),
        (KeyboardInterrupt(), "KILLED"),
        (ValueError("x"), "FAILED"),
    ],
)
def test_a_parent_run_ends_with_what_happened_inside(tmp_path, raised, status):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("status", artifact_location=str(tmp_path / "artifacts"))
    run_id = client.create_run(experiment).info.run_id
    client.set_terminated(run_id, "FAILED")  # an earlier attempt's end; the resumed run reopens it
    seen = []
    expected = pytest.raises(type(raised)) if raised is not None else contextlib.nullcontext()
    with expected, run_status(uri, run_id, "stage map"):
        seen.append(client.get_run(run_id).info.status)
        if raised is not None:
            raise raised
    assert seen == ["RUNNING"] and client.get_run(run_id).info.status == status
