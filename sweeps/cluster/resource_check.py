"""Refuses a sweep whose trials or evaluation actors ask for more than any node of the cluster has.

Without this, Ray Tune would wait forever for a GPU that a laptop does not have. It runs before Ray
starts (a local Ray gets this machine's CPUs, or ``ray.num_cpus``, and its CUDA devices), and is
skipped when the sweep joins a cluster by address, whose autoscaler may still add bigger nodes.
"""

from __future__ import annotations

import os

import ray
import torch

from bdlsweep.sweeps.reading.errors import SpecError
from bdlsweep.sweeps.spec.models import Resources, SweepSpec

RAY_NAMES = {"cpu": "CPU", "gpu": "GPU"}


def _fits(request: dict[str, float], node: dict[str, float]) -> bool:
    return all(
        node.get(RAY_NAMES.get(key, key), 0.0) >= amount for key, amount in request.items() if amount > 0
    )


def _largest(nodes: list[dict[str, float]]) -> str:
    names = sorted({key for node in nodes for key in node if "node:" not in key and "memory" not in key})
    return ", ".join(f"{name}={max(node.get(name, 0.0) for node in nodes):g}" for name in names)


def _nodes(spec: SweepSpec) -> list[dict[str, float]]:
    """The resources of each node of the running Ray, or of the one local node Ray would start."""
    if ray.is_initialized():
        return [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    return [{"CPU": float(spec.ray.num_cpus or os.cpu_count() or 1), "GPU": float(torch.cuda.device_count())}]


def check_resources(spec: SweepSpec) -> None:
    """Raise ``SpecError`` naming the first stage (or the evaluation) no node can host."""
    if spec.ray.address is not None:
        return
    nodes = _nodes(spec)
    requests: list[tuple[str, Resources]] = [
        (f"stages.{stage.name}.resources", stage.resources) for stage in spec.stages.values()
    ]
    requests.append(("evaluate.resources", spec.evaluate.resources))
    for key, resources in requests:
        request = resources.as_tune()
        if not any(_fits(request, node) for node in nodes):
            asked = ", ".join(f"{name}={amount:g}" for name, amount in request.items() if amount > 0)
            raise SpecError(
                spec.source,
                key,
                f"asks for {asked} per trial but no node has that much (largest: {_largest(nodes)})",
            )
