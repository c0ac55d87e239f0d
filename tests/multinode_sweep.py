"""A small sweep on a local multi-node Ray cluster (``ray.cluster_utils.Cluster``), run as a subprocess.

Usage: ``python multinode_sweep.py OUT.json FOLDER``. Head (no accelerator) plus two worker nodes
with a custom ``accel`` resource standing in for a GPU; the MAP stage asks for ``accel: 0.5`` per
trial, so each worker holds two trials at a time. Two sweeps run on the one cluster: ``spread``,
then ``kill``, during which one worker is removed as soon as every trial has written a checkpoint.
The JSON holds, per sweep, each trial's node and times (last and first report, whole seconds), when
the worker was removed, the worker node ids, the selection, the MLflow runs, and the nodes whose
evaluation tasks predicted the members (they ask for ``accel`` too, so they run on the workers).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import mlflow
import pandas as pd
import ray
import yaml
from ray.cluster_utils import Cluster

from bdlsweep.analysis import results
from bdlsweep.sweeps.pipeline import run_sweep
from bdlsweep.sweeps.spec import load_spec

TRIAL_COLUMNS = ("trial_id", "node_id", "timestamp", "time_total_s", "epoch", "iterations_since_restore")
SWEEP = {
    "name": "multinode",
    "dataset": {"name": "digits"},
    "model": {"name": "mlp", "hidden": [32]},
    "seeds": [1, 2, 3, 4],
    "stages": {
        "map": {
            "method": "map",
            "batch_size": 64,
            "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
            "resources": {"cpu": 0.5, "custom": {"accel": 0.5}},
            "max_failures": 3,
        }
    },
    "evaluate": {
        "methods": ["map"],
        "ensemble_sizes": [1, 2],
        "ensembles_per_size": 1,
        "num_posterior_samples": 1,
        "resources": {"cpu": 0.5, "custom": {"accel": 0.5}},
    },
}


def remove_when_checkpointed(cluster: Cluster, node, stage_folder: Path, removed: dict) -> threading.Thread:
    """A thread that removes ``node`` (no graceful shutdown) once every trial has saved a checkpoint,
    so the trials it held have one to resume from; ``removed["at"]``: when (whole seconds, rounded up)."""

    def wait_and_remove() -> None:
        while len({path.parent for path in stage_folder.glob("*/checkpoint_*")}) < len(SWEEP["seeds"]):
            time.sleep(0.2)
        cluster.remove_node(node, allow_graceful=False)
        removed["at"] = int(time.time()) + 1

    thread = threading.Thread(target=wait_and_remove, daemon=True)
    thread.start()
    return thread


def run(cluster: Cluster, workers: list, folder: Path, mode: str) -> dict:
    """One sweep on the cluster (``kill``: removing the first worker mid-stage) and its record."""
    SWEEP["stages"]["map"]["epochs"] = 60
    sweep_file = folder / f"{mode}.yaml"
    sweep_file.write_text(yaml.safe_dump(SWEEP))
    spec = load_spec(sweep_file, [f"storage={folder / mode}"])
    killer, removed = None, {}
    if mode == "kill":
        killer = remove_when_checkpointed(cluster, workers[0], spec.storage.path / "map", removed)
    outcome = run_sweep(spec)
    trials = results.trials(spec.storage, "map")
    first_report = {
        result.metrics["trial_id"]: int(result.metrics_dataframe["timestamp"].min())
        for result in results.load_result_grid(spec.storage, "map")
    }
    trials["first_report"] = trials["trial_id"].map(first_report)
    mlflow.set_tracking_uri(spec.tracking_uri)
    runs = mlflow.search_runs(experiment_names=[spec.experiment])
    return {
        "workers": [worker.node_id for worker in workers],
        "head": cluster.head_node.node_id,
        "removed": killer is not None and not killer.is_alive(),
        "removed_at": removed.get("at"),
        "trials": trials[[*TRIAL_COLUMNS, "first_report"]].to_dict("records"),
        "selected": {str(seed): m.trial_id for seed, m in outcome.selections["map"].members.items()},
        "runs": runs[runs["tags.stage"] == "map"][["tags.trial_id", "status"]].to_dict("records"),
        "ensembles": len(outcome.ensembles),
        "evaluation_nodes": sorted(set(pd.read_csv(spec.layout.evaluation_members.path)["node_id"])),
    }


def main(out: str, folder: str) -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    workers = [cluster.add_node(num_cpus=2, resources={"accel": 1}) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    record = {mode: run(cluster, workers, Path(folder), mode) for mode in ("spread", "kill")}
    Path(out).write_text(json.dumps(record))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:3])
