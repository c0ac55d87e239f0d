"""Packing small trials: one MAP stage of 8 trials at a fractional resource each vs a whole unit each.

Run: ``python benchmarks/packing.py [--resource gpu] [--fraction 0.25] [--trials 8] [--epochs 20]``.
GPU variant (``--resource gpu``): 8 digits-MLP MAP trials at ``gpu: 0.25`` (four share a GPU) vs
``gpu: 1`` (one at a time per GPU), each trial with one CPU. CPU variant (the default): the same trials
at ``cpu: 0.25`` vs ``cpu: 1`` on this machine's cores. Both stages run through Ray Tune and MLflow on
one Ray instance started first; prints both wall times and the speed-up (packed vs whole; target ≥ 2.5
on one GPU).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from stage_timing import timed_stage

from bdlsweep.sweeps.cluster.ray_session import ray_for
from bdlsweep.sweeps.spec.loading import load_spec

QUICKSTART = Path(__file__).parents[1] / "sweeps" / "quickstart.yaml"


def stage_figures(
    storage: Path, resource: str, amount: float, trials: int, epochs: int
) -> tuple[float, float | None]:
    """Wall seconds of a MAP stage of ``trials`` seeds asking ``amount`` of ``resource`` per trial, and
    its trials' largest peak GPU memory (MiB; None on CPU)."""
    resources = {"cpu": amount, "gpu": 0} if resource == "cpu" else {"cpu": 1, "gpu": amount}
    overrides = [
        f"storage={storage}",
        f"seeds={trials}",
        "evaluate.ensemble_sizes=[1]",  # the stage alone is timed; the sweep file's K must fit the seeds
        f"stages.map.epochs={epochs}",
        "stages.map.resources={" + ", ".join(f"{k}: {v}" for k, v in resources.items()) + "}",
    ]
    return timed_stage(load_spec(QUICKSTART, overrides), "map")


def measure(resource: str, fraction: float, trials: int, epochs: int) -> dict:
    """Both stage times, the speed-up and the trials' peak GPU memory, with Ray already running."""
    with tempfile.TemporaryDirectory() as folder:
        whole, whole_peak = stage_figures(Path(folder) / "whole", resource, 1.0, trials, epochs)
        packed, packed_peak = stage_figures(Path(folder) / "packed", resource, fraction, trials, epochs)
    return {
        "resource": resource,
        "trials": trials,
        "epochs": epochs,
        "whole_s": whole,
        f"packed_{fraction}_s": packed,
        "speedup": whole / packed,
        "trial_peak_gpu_mib": max(whole_peak, packed_peak) if whole_peak is not None else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resource", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--fraction", type=float, default=0.25)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    with ray_for():
        print(json.dumps(measure(args.resource, args.fraction, args.trials, args.epochs)))


if __name__ == "__main__":
    main()
