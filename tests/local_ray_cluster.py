"""A Ray cluster on this machine, started as users start one: ``ray start --head`` with the autoscaler
(Ray's fake multi-node provider standing in for the cloud: the nodes it adds are Ray nodes on this
machine) and ``ray start --address`` for a node of one's own; jobs go in through ``ray job submit``.

Every ``ray start`` runs with ``--block`` in a session of its own, so the test stops exactly the
processes of its cluster (``ray stop`` would stop every Ray on the machine, another test's too).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil
import yaml
from local_servers import free_ports, wait_until_answering
from ray.job_submission import JobStatus, JobSubmissionClient
from ray.util.state import list_nodes
from repo_paths import ROOT

from bdlsweep.sweeps.cluster.ray_watchdog import stop

# The `ray` command of the Python running the tests (a venv used without activating it has no `ray` on PATH).
RAY = str(Path(sys.executable).with_name("ray"))

# The GPUs of the instance types cluster.yaml names (AWS's g5 family); each stands in for one here.
GPUS_PER_INSTANCE = {"g5.2xlarge": 1, "g5.12xlarge": 4}
# The cluster launcher's keys the fake provider has no use for but the autoscaler reads.
LAUNCHER_DEFAULTS = {
    "auth": {"ssh_user": "ubuntu"},
    "file_mounts": {},
    "cluster_synced_files": [],
    "file_mounts_sync_continuously": False,
    "rsync_exclude": [],
    "rsync_filter": [],
    "initialization_commands": [],
    "setup_commands": [],
    "head_setup_commands": [],
    "worker_setup_commands": [],
    "head_start_ray_commands": [],
    "worker_start_ray_commands": [],
}
JOB_ENDS = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED)
FAKE_HEAD_TYPE = "ray.head.default"  # the node type the fake provider gives the head
# Ray's health checks every 1 s, a node declared dead after 3 missed (defaults: every 3 s, 5 missed)
FAST_NODE_FAILURE_DETECTION = {
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


def fake_autoscaling_config(
    gcs_port: int, cpus_per_node: int, max_workers: int, idle_timeout_minutes: float
) -> dict:
    """``cluster.yaml`` for the fake multi-node provider: its worker node types with their GPUs (as
    Ray resources, no device behind them), ``cpus_per_node`` CPUs each and at most ``max_workers`` of
    a type; a head without GPUs, as cluster.yaml's."""
    launcher = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    workers = {
        name: {
            "resources": {
                "CPU": cpus_per_node,
                "GPU": GPUS_PER_INSTANCE[node["node_config"]["InstanceType"]],
            },
            "node_config": {},
            "min_workers": node.get("min_workers", 0),
            "max_workers": min(node["max_workers"], max_workers),
        }
        for name, node in launcher["available_node_types"].items()
        if name != launcher["head_node_type"]
    }
    return {
        **LAUNCHER_DEFAULTS,
        "cluster_name": launcher["cluster_name"],
        "max_workers": max_workers,
        "upscaling_speed": launcher["upscaling_speed"],
        "idle_timeout_minutes": idle_timeout_minutes,
        "provider": {
            "type": "fake_multinode",
            "gcs_address": f"127.0.0.1:{gcs_port}",
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
        },
        "available_node_types": {
            FAKE_HEAD_TYPE: {"resources": {"CPU": 1}, "node_config": {}, "max_workers": 0},
            **workers,
        },
        "head_node_type": FAKE_HEAD_TYPE,
    }


class LocalRayCluster:
    """A head (and nodes added with :meth:`add_node`) in ``folder``; :meth:`stop` ends them all."""

    def __init__(
        self, folder: Path, autoscaling_config: Callable[[int], dict] | None = None, head_cpus: int = 1
    ) -> None:
        """``autoscaling_config``: the autoscaler's config for the head's GCS port (none: no autoscaler)."""
        self.folder = folder
        # Ray's socket paths (e.g. <temp>/session_<date>_<time>_<pid>/sockets/dash_MetricsHead) must stay
        # under 108 bytes: the session folder goes to a short path of its own
        self.temp_dir = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))
        self.port, self.dashboard_port, client_port, *node_ports = free_ports(3 + len(_NODE_PORTS))
        self.env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
        self.processes: list[subprocess.Popen] = []
        command = [
            RAY, "start", "--head", "--block", f"--port={self.port}", "--node-ip-address=127.0.0.1",
            f"--num-cpus={head_cpus}", "--num-gpus=0", f"--temp-dir={self.temp_dir}", "--disable-usage-stats",
            "--include-dashboard=true", "--dashboard-host=127.0.0.1",
            f"--dashboard-port={self.dashboard_port}", f"--ray-client-server-port={client_port}",
            *_own_ports(node_ports),
        ]  # fmt: skip
        if autoscaling_config is not None:
            config = folder / "autoscaling.yaml"
            config.write_text(yaml.safe_dump(autoscaling_config(self.port)))
            command.append(f"--autoscaling-config={config}")
            self.env.update({"RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"})
        self.head = self._start(command, "head")
        try:
            wait_until_answering(f"{self.dashboard}/api/version", self.head, folder / "head.log", 120)
        except BaseException:
            self.stop()
            raise

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def _start(self, command: list[str], name: str) -> subprocess.Popen:
        with open(self.folder / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.processes.append(process)
        return process

    def add_node(self, num_cpus: int, num_gpus: int) -> tuple[subprocess.Popen, str]:
        """``ray start --address`` for one more node: its process and node id, once listed alive."""
        known = {node["node_id"] for node in self.nodes()}
        command = [
            RAY, "start", "--block", f"--address=127.0.0.1:{self.port}", "--node-ip-address=127.0.0.1",
            f"--num-cpus={num_cpus}", f"--num-gpus={num_gpus}", "--disable-usage-stats",
            *_own_ports(free_ports(len(_NODE_PORTS))),
        ]  # fmt: skip
        process = self._start(command, f"node{len(self.processes)}")
        deadline = time.monotonic() + 120
        while True:
            joined = [
                node["node_id"]
                for node in self.nodes()
                if node["state"] == "ALIVE" and not node["is_head_node"] and node["node_id"] not in known
            ]
            if joined:
                return process, joined[0]
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the node did not join: see {self.folder}")
            time.sleep(0.5)

    def nodes(self) -> list[dict]:
        """Every node the cluster has had (alive and dead), from Ray's state API (times in ms)."""
        listed = list_nodes(address=self.dashboard, limit=1000, detail=True, raise_on_missing_output=False)
        return [dataclasses.asdict(node) for node in listed]

    def submit(self, arguments: list[str], env_vars: dict[str, str], timeout_s: float = 60) -> str:
        """``ray job submit -- python -m bdlsweep.submit ARGUMENTS``; the job's id. Submitted
        again while the head's agent is not ready yet (Ray answers "No available agent" then)."""
        submission_id = f"bdlsweep-{uuid.uuid4().hex[:8]}"
        command = [
            RAY, "job", "submit", "--address", self.dashboard, "--no-wait",
            "--submission-id", submission_id, "--runtime-env-json", json.dumps({"env_vars": env_vars}),
            "--", sys.executable, "-m", "bdlsweep.submit", *arguments,
        ]  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while True:
            done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=120)
            if done.returncode == 0:
                return submission_id
            if "No available agent" not in done.stdout + done.stderr or time.monotonic() > deadline:
                raise RuntimeError(done.stdout[-2000:] + done.stderr[-2000:])
            time.sleep(1)

    def wait(self, submission_id: str, timeout_s: float = 600) -> tuple[str, str]:
        """The job's final status (``SUCCEEDED``, ``FAILED``, ``STOPPED``) and its driver's output."""
        client = JobSubmissionClient(self.dashboard)
        deadline = time.monotonic() + timeout_s
        while (status := client.get_job_status(submission_id)) not in JOB_ENDS:
            assert time.monotonic() < deadline, f"job {submission_id} still {status}"
            time.sleep(1)
        return str(status), client.get_job_logs(submission_id)

    def kill_raylet(self, node: subprocess.Popen) -> None:
        """SIGKILL the raylet of a node from :meth:`add_node`: the node is lost, as a crash loses it."""
        (raylet,) = [process for process in _in_session(node.pid) if process.name() == "raylet"]
        raylet.send_signal(signal.SIGKILL)

    def stop(self) -> None:
        """Stop every process of the cluster: each ``ray start`` and whatever runs in its session."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        stop([member for process in self.processes for member in _in_session(process.pid)])
        shutil.rmtree(self.temp_dir, ignore_errors=True)


# a node's servers whose default ports are fixed (another Ray on this machine holds them)
_NODE_PORTS = (
    "node-manager-port", "object-manager-port", "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port", "metrics-export-port", "runtime-env-agent-port",
)  # fmt: skip


def _own_ports(ports: list[int]) -> list[str]:
    """``ray start`` options giving a node's fixed-port servers the distinct free ``ports``."""
    return [f"--{name}={port}" for name, port in zip(_NODE_PORTS, ports, strict=True)]


def _in_session(session: int) -> list[psutil.Process]:
    """The processes of a session (``start_new_session``: its id is the first process's pid)."""
    members = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == session:
                members.append(process)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return members
