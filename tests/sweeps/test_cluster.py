"""Running on a cluster: launcher file, submit entry point, MLflow server, several nodes, node loss."""

import json
import os
import re
import subprocess
import sys
from importlib import resources

import jsonschema
import pytest
import yaml
from local_servers import free_port, start_mlflow_server, stop_server
from repo_paths import HELPERS, ROOT

QUICKSTART = ROOT / "sweeps" / "quickstart.yaml"
SMALL_SWEEP = {
    "name": "small",
    "dataset": {"name": "digits"},
    "model": {"name": "mlp", "hidden": [32]},
    "seeds": [1, 2],
    "stages": {
        "map": {"method": "map", "epochs": 3, "batch_size": 64},
        "swag": {"method": "swag", "from": "map", "epochs": 2, "rank": 2, "val_samples": 2},
    },
    "evaluate": {
        "methods": ["map", "swag"],
        "ensemble_sizes": [1, 2],
        "ensembles_per_size": 1,
        "num_posterior_samples": 2,
    },
}


# Ray's health checks every 1 s, a node declared dead after 3 missed (defaults: every 3 s, 5 missed)
FAST_NODE_FAILURE_DETECTION = {
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


def _readme_install_command() -> str:
    """The install part of the README's quick-start command."""
    block = re.search(r"## Quick start.*?```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)
    return block.group(1).split("&&")[0].strip()


def test_cluster_yaml_is_a_valid_launcher_file_that_installs_as_the_readme_does():
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    schema = json.loads(resources.files("ray.autoscaler").joinpath("ray-schema.json").read_text())
    jsonschema.validate(config, schema)
    assert config["provider"]["type"] == "aws"
    assert config["head_node_type"] in config["available_node_types"]
    workers = {name: node for name, node in config["available_node_types"].items() if name != "head"}
    assert workers and all(node["node_config"]["InstanceType"].startswith("g") for node in workers.values())
    assert all(node["max_workers"] >= node["min_workers"] for node in workers.values())
    install = _readme_install_command()
    assert install == "python -m pip install -e '.[dev]'"
    assert any(command.endswith(install) for command in config["setup_commands"])
    assert config["file_mounts"] == {"~/bdlsweep": "."}
    head = " ".join(config["head_start_ray_commands"])
    assert "mlflow server" in head and '--backend-store-uri "$(cat ~/mlflow-store-uri)"' in head
    store = next(c for c in config["head_setup_commands"] if "> ~/mlflow-store-uri" in c)
    assert "'postgresql+psycopg2://mlflow:mlflow@127.0.0.1:5432/mlflow'" in store  # not SQLite on NFS
    assert any("CREATE ROLE mlflow" in command for command in config["head_setup_commands"])
    assert '--host "$(hostname -I' in head and "0.0.0.0" not in head  # the head's private address only
    assert "ray start --head" in head and "--dashboard-host=127.0.0.1" in head


def test_submit_runs_bdlsweep_with_the_cluster_defaults_and_user_overrides_last(monkeypatch, tmp_path):
    from bdlsweep.sweeps.submit import cluster_arguments

    monkeypatch.chdir(tmp_path)  # as `ray submit` runs it: from the home folder, not the project
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://10.0.0.5:5000")
    arguments = cluster_arguments(["sweeps/quickstart.yaml", "seeds=2", "--storage-root", "/shared/runs"])
    assert arguments == [
        "run",
        str(QUICKSTART),
        "ray.address=auto",
        "mlflow.tracking_uri=http://10.0.0.5:5000",
        "storage=/shared/runs/quickstart",
        "seeds=2",
    ]
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.setattr("ray.util.get_node_ip_address", lambda: "10.0.0.7")
    assert "mlflow.tracking_uri=http://10.0.0.7:5000" in cluster_arguments([str(QUICKSTART), "--dry-run"])


@pytest.fixture
def mlflow_server(tmp_path):
    """A real ``mlflow server`` on 127.0.0.1 (SQLite store, proxied artifacts); yields its URI."""
    port = free_port()
    server = start_mlflow_server(tmp_path / "server", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(server)


@pytest.mark.slow
def test_a_sweep_submitted_to_the_cluster_records_to_a_real_mlflow_server(
    tmp_path, mlflow_server, monkeypatch, ray_session
):
    from mlflow.tracking import MlflowClient

    from bdlsweep.analysis import results
    from bdlsweep.sweeps.submit import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    sweep = tmp_path / "small.yaml"
    sweep.write_text(yaml.safe_dump(SMALL_SWEEP))
    assert main([str(sweep), "--storage-root", str(tmp_path / "shared")]) == 0
    storage = tmp_path / "shared" / "small"
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("small")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    for stage in SMALL_SWEEP["stages"]:
        logged = sorted(run.data.tags["trial_id"] for run in runs if run.data.tags.get("stage") == stage)
        assert logged == sorted(results.trials(storage, stage)["trial_id"])
    (evaluation,) = [run for run in runs if run.data.tags.get("stage") == "evaluate"]
    artifacts = {item.path for item in client.list_artifacts(evaluation.info.run_id)}
    assert {"ensembles.csv", "table.md"} <= artifacts  # proxied by the server into its artifact store
    assert not (storage / "mlflow.db").exists()


def _multinode_records(folder) -> dict:
    """Run ``multinode_sweep.py`` in a fresh process (its own Ray cluster) and read its records."""
    out = folder / "record.json"
    completed = subprocess.run(
        [sys.executable, str(HELPERS / "multinode_sweep.py"), str(out), str(folder)],
        env={**os.environ, **FAST_NODE_FAILURE_DETECTION},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_trials_spread_over_worker_nodes_pack_by_fractional_resources_and_survive_a_lost_node(tmp_path):
    """One cluster, two sweeps (a test each would start the cluster twice: a fixture shared between
    tests is set up again whenever pytest-xdist hands them to different workers)."""
    records = _multinode_records(tmp_path)
    _check_spread(records["spread"])
    _check_node_loss(records["kill"])


def _check_spread(record: dict) -> None:
    """Trials ran two per worker, side by side, never on the head; members were predicted on both."""
    nodes = [trial["node_id"] for trial in record["trials"]]
    assert record["head"] not in nodes  # the head has no `accel`: no trial ran there
    assert sorted(nodes.count(worker) for worker in record["workers"]) == [2, 2]
    for worker in record["workers"]:  # accel 0.5 each: a worker's two trials ran side by side
        one, other = [trial for trial in record["trials"] if trial["node_id"] == worker]
        # Timestamps are whole seconds: a trial started before first_report + 1 and ended at or after
        # timestamp (its last report), so these prove each started before the other ended.
        assert one["first_report"] + 1 <= other["timestamp"]
        assert other["first_report"] + 1 <= one["timestamp"]
    assert record["ensembles"] > 0
    assert record["evaluation_nodes"] == sorted(record["workers"])  # members predicted on both workers


def _check_node_loss(record: dict) -> None:
    """A worker removed mid-stage: its trials resumed elsewhere from checkpoints, none lost or duplicated."""
    assert record["removed"]
    trials = record["trials"]
    assert len(trials) == 4 and all(trial["epoch"] == 60 for trial in trials)
    lost = record["workers"][0]
    on_lost = [trial for trial in trials if trial["node_id"] == lost]
    assert len(on_lost) < len(trials)
    assert all(trial["timestamp"] <= record["removed_at"] for trial in on_lost)  # done before the removal
    assert any(
        trial["iterations_since_restore"] < trial["epoch"] for trial in trials
    )  # resumed from a checkpoint
    assert sorted(record["selected"]) == ["1", "2", "3", "4"]
    run_ids = sorted(run["tags.trial_id"] for run in record["runs"])
    assert run_ids == sorted(trial["trial_id"] for trial in trials)  # one MLflow run per trial, none lost
    assert all(run["status"] == "FINISHED" for run in record["runs"])
