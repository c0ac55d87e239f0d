"""Sweeps on a cluster as users run one: a head started by ``ray start --head`` with the autoscaler
(``cluster.yaml``'s node types on Ray's fake multi-node provider), a node joined by
``ray start --address``, sweeps submitted by ``ray job submit`` and recorded to a real MLflow server."""

import json
import time
from functools import partial

import pandas as pd
import pytest
import yaml
from comparable_results import comparable
from local_ray_cluster import FAST_NODE_FAILURE_DETECTION, LocalRayCluster, fake_autoscaling_config
from local_servers import free_port, start_mlflow_server, stop_server
from mlflow.tracking import MlflowClient

from bdlsweep.analysis import results
from bdlsweep.storage.layout import SweepLayout
from bdlsweep.sweeps.pipeline import run_sweep
from bdlsweep.sweeps.spec.loading import load_spec

GPU_SWEEP = {
    "name": "on_gpus",
    "dataset": {"name": "digits"},
    "model": {"name": "mlp", "hidden": [32]},
    "seeds": [1, 2],  # two trials: packed on one GPU node (gpu: 0.5)
    "stages": {
        "map": {
            "method": "map",
            "epochs": 60,  # trials of a few seconds, so that two on one node overlap in whole seconds
            "batch_size": 64,
            "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
            "resources": {"cpu": 1, "gpu": 0.5},  # two trials share a 1-GPU node
            "max_failures": 3,
        }
    },
    "evaluate": {
        "methods": ["map"],
        "ensemble_sizes": [1, 2],
        "ensembles_per_size": 1,
        "num_posterior_samples": 1,
        "resources": {"cpu": 1, "gpu": 0.5},
    },
}
IDLE_TIMEOUT_MINUTES = 0.25
EPOCHS_LOSING_A_NODE = 200  # trials long enough (~10 s) to be spread over both nodes
FAKE_NODE = "f" * 51  # the fake provider's node ids: this, then a 5-digit count (00000: the head)


def _added_by_the_autoscaler(node: dict) -> bool:
    return not node["is_head_node"] and node["node_id"].startswith(FAKE_NODE)


def _sweep_file(tmp_path, name: str, epochs: int, gpu: float = 0.5):
    raw = yaml.safe_load(yaml.safe_dump(GPU_SWEEP))
    raw["name"] = name
    raw["stages"]["map"]["epochs"] = epochs
    raw["stages"]["map"]["resources"]["gpu"] = raw["evaluate"]["resources"]["gpu"] = gpu
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def mlflow_server(tmp_path):
    """A real ``mlflow server`` on 127.0.0.1; yields its URI."""
    port = free_port()
    server = start_mlflow_server(tmp_path / "mlflow", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(server)


@pytest.mark.slow
def test_an_autoscaled_cluster_adds_gpu_nodes_for_a_submitted_sweep_and_matches_a_local_run(
    tmp_path, ray_session, mlflow_server
):
    """GPU nodes are added for a sweep submitted by ``ray job submit``, removed when idle, and the
    sweep's results equal a local run's."""
    (tmp_path / "cluster").mkdir()
    config = partial(
        fake_autoscaling_config, cpus_per_node=2, max_workers=2, idle_timeout_minutes=IDLE_TIMEOUT_MINUTES
    )
    cluster = LocalRayCluster(tmp_path / "cluster", autoscaling_config=config)
    try:
        storage, finished = _check_autoscaled_sweep(cluster, tmp_path, mlflow_server)
        spec = _sweep_file(tmp_path, "on_gpus", GPU_SWEEP["stages"]["map"]["epochs"])
        local = load_spec(
            spec, [f"storage={tmp_path / 'local'}", "stages.map.resources.gpu=0", "evaluate.resources.gpu=0"]
        )
        run_sweep(local)  # on the test's own Ray, while the cluster's GPU nodes sit idle
        _check_idle_nodes_removed(cluster, finished)
    finally:
        cluster.stop()
    pd.testing.assert_frame_equal(
        comparable(results.selections(storage)), comparable(results.selections(local.storage))
    )
    pd.testing.assert_frame_equal(results.ensembles(storage), results.ensembles(local.storage))


@pytest.mark.slow
def test_a_submitted_sweep_survives_the_loss_of_a_node_joined_by_ray_start(
    tmp_path, mlflow_server, monkeypatch
):
    """A head and two nodes started with ``ray start``; one node's raylet is killed mid-stage."""
    for key, value in FAST_NODE_FAILURE_DETECTION.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "cluster").mkdir()
    cluster = LocalRayCluster(tmp_path / "cluster", head_cpus=0)  # trials run on the two nodes
    try:
        _check_sweep_losing_a_node(cluster, tmp_path, mlflow_server)
    finally:
        cluster.stop()


def _run_job(cluster: LocalRayCluster, sweep, tmp_path, uri: str, during=None) -> None:
    """Submit ``sweep`` and wait for its end (calling ``during(job_id)`` meanwhile); it must succeed."""
    arguments = [str(sweep), "--storage-root", str(tmp_path / "shared")]
    job = cluster.submit(arguments, {"MLFLOW_TRACKING_URI": uri})
    if during is not None:
        during(job)
    status, logs = cluster.wait(job)
    assert status == "SUCCEEDED", logs[-4000:]


def _check_records(storage, uri: str, name: str) -> None:
    """One finished MLflow run per Tune trial, and the evaluation's files proxied to the server."""
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    trial_runs = [run for run in runs if run.data.tags.get("stage") == "map"]
    assert sorted(run.data.tags["trial_id"] for run in trial_runs) == sorted(
        results.trials(storage, "map")["trial_id"]
    )
    assert {run.info.status for run in trial_runs} == {"FINISHED"}
    (evaluation,) = [run for run in runs if run.data.tags.get("stage") == "evaluate"]
    assert {"ensembles.csv", "table.md"} <= {
        item.path for item in client.list_artifacts(evaluation.info.run_id)
    }
    assert not (storage / "mlflow.db").exists()


def _ran_side_by_side(storage) -> bool:
    """Whether two trials reported from one node at overlapping times (whole seconds)."""
    spans = [
        (frame["node_id"].iloc[0], frame["timestamp"].min(), frame["timestamp"].max())
        for frame in (result.metrics_dataframe for result in results.load_result_grid(storage, "map"))
    ]
    return any(
        node == other_node and start <= other_end and other_start <= end
        for i, (node, start, end) in enumerate(spans)
        for other_node, other_start, other_end in spans[i + 1 :]
    )


def _check_autoscaled_sweep(cluster: LocalRayCluster, tmp_path, uri: str):
    """GPU nodes are added while trials wait for GPUs and run the trials (two to a node) and the
    evaluation; the head (no GPU) runs none of it. Returns the storage and when the job ended."""
    sweep = _sweep_file(tmp_path, "on_gpus", GPU_SWEEP["stages"]["map"]["epochs"])
    submitted = time.time()
    _run_job(cluster, sweep, tmp_path, uri)
    finished = time.time()
    storage = tmp_path / "shared" / "on_gpus"
    added = [node for node in cluster.nodes() if _added_by_the_autoscaler(node)]
    assert added and all(node["resources_total"].get("GPU", 0) >= 1 for node in added)
    first_up = min(node["start_time_ms"] for node in added) / 1000 - submitted
    print(f"first GPU node up {first_up:.1f} s after submission")
    trials = results.trials(storage, "map")
    assert len(trials) == 2 and (trials["epoch"] == GPU_SWEEP["stages"]["map"]["epochs"]).all()
    added_ids = {node["node_id"] for node in added}
    assert set(trials["node_id"]) <= added_ids
    assert _ran_side_by_side(storage)  # gpu: 0.5 packs two trials on a node
    members = pd.read_csv(SweepLayout.at(storage).evaluation_members.path)
    assert set(members["node_id"]) <= added_ids
    _check_records(storage, uri, "on_gpus")
    return storage, finished


def _check_idle_nodes_removed(cluster: LocalRayCluster, finished: float) -> None:
    """The GPU nodes the autoscaler added are removed once idle (the job ended at ``finished``)."""
    deadline = time.monotonic() + 180
    while any(node["state"] == "ALIVE" for node in cluster.nodes() if _added_by_the_autoscaler(node)):
        assert time.monotonic() < deadline, "idle GPU nodes were not removed"
        time.sleep(2)
    print(f"idle GPU nodes removed {time.time() - finished:.1f} s after the job ended")


def _checkpointed_on(stage, nodes: set[str]) -> str | None:
    """One of ``nodes`` from which a trial of ``stage`` last reported and saved a checkpoint (or none)."""
    for report_file in stage.glob("*/result.json"):
        lines = report_file.read_text().splitlines()
        if not lines or not any(report_file.parent.glob("checkpoint_*")):
            continue
        try:
            node = json.loads(lines[-1])["node_id"]
        except json.JSONDecodeError:  # a line still being written
            continue
        if node in nodes:
            return node
    return None


def _check_sweep_losing_a_node(cluster: LocalRayCluster, tmp_path, uri: str) -> None:
    """Two nodes joined with ``ray start --address``; the raylet of the first one where a trial saved a
    checkpoint is killed. The trials it held resume on the other, and each trial has all its epochs
    and one MLflow run."""
    nodes = dict(cluster.add_node(num_cpus=2, num_gpus=0)[::-1] for _ in range(2))
    sweep = _sweep_file(tmp_path, "losing_a_node", epochs=EPOCHS_LOSING_A_NODE, gpu=0)
    stage = tmp_path / "shared" / "losing_a_node" / "map"
    lost = {}

    def kill_when_checkpointed(job) -> None:
        deadline = time.monotonic() + 300
        while (node := _checkpointed_on(stage, set(nodes))) is None:
            assert time.monotonic() < deadline, "no trial saved a checkpoint"
            time.sleep(0.2)
        cluster.kill_raylet(nodes[node])
        lost["id"] = node

    _run_job(cluster, sweep, tmp_path, uri, during=kill_when_checkpointed)
    storage = stage.parent
    assert {node["state"] for node in cluster.nodes() if node["node_id"] == lost["id"]} == {"DEAD"}
    trials = results.trials(storage, "map")
    assert len(trials) == 2 and (trials["epoch"] == EPOCHS_LOSING_A_NODE).all()
    ran_there = {
        result.metrics["trial_id"]
        for result in results.load_result_grid(storage, "map")
        if lost["id"] in set(result.metrics_dataframe["node_id"])
    }
    assert ran_there  # some trials ran on the node that was lost
    moved = trials[trials["trial_id"].isin(ran_there)]
    assert lost["id"] not in set(moved["node_id"])  # and finished on the other, from their checkpoints
    assert (moved["iterations_since_restore"] < moved["epoch"]).all()
    _check_records(storage, uri, "losing_a_node")
