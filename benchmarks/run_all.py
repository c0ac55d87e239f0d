"""Every benchmark in one process, one JSON line each: CPU variants, or with ``--device cuda`` GPU ones.

Run: ``python benchmarks/run_all.py [--device cuda]``. Made for a GPU machine lent for minutes: one
command measures everything, and a benchmark that fails prints its error line and the rest go on.
GPU sizes: WRN-16-4 for LLLA prediction and training throughput (fp32; bf16 + channels-last; the
same compiled with inductor; fp32 streamed from host memory), 8 MAP trials at ``gpu: 0.25`` vs
``gpu: 1``, ensemble evaluation of 8 members on 10,000 CIFAR-shaped images at 1, 1/2, 1/4 and
1/8 of the GPU per member task, and the overhead of the CIFAR-10 sweep's WRN-16-4 MAP stage on
synthetic CIFAR-10 files (CPU: the quickstart's digits MAP stage).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import evaluation
import evaluation_shares
import llla_eval
import overhead
import packing
import reference
import torch
import train_throughput

from bdlsweep.sweeps.cluster.ray_session import ray_for
from bdlsweep.trainables.settings import SpeedSettings


def run(name: str, measure: Callable[[], dict]) -> None:
    """Print one JSON line: the benchmark's figures and its wall time, or the error that stopped it."""
    start = time.perf_counter()
    try:
        line = {"benchmark": name, **measure()}
    except Exception as error:  # reported, and the next benchmark runs
        line = {"benchmark": name, "error": repr(error), "where": traceback.format_exc(limit=3)}
    print(json.dumps({**line, "wall_s": time.perf_counter() - start}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    model = "wide_resnet" if gpu else "cnn"
    run("llla_eval", lambda: llla_eval.measure(model, 10_000, 200, device, 3))
    run("reference", lambda: reference.measure(10_000 if gpu else 400, 200, device, 3))
    run("evaluation", lambda: evaluation.measure())
    speeds = [SpeedSettings()]
    if gpu:
        speeds += [
            SpeedSettings(precision="bf16", channels_last=True),
            SpeedSettings(precision="bf16", channels_last=True, compile="inductor"),
            SpeedSettings(train_data="host"),
        ]
    images, batch = (4096, 128) if gpu else (256, 64)
    for speed in speeds:
        run("train_throughput", lambda speed=speed: train_throughput.measure(images, batch, device, speed, 3))
    with ray_for(), tempfile.TemporaryDirectory() as folder:
        run("packing", lambda: packing.measure("gpu" if gpu else "cpu", 0.25, 8, 20))
        if gpu:
            shares = {"members": 8, "samples": 10, "images": 10_000, "shares": [1, 0.5, 0.25, 0.125]}
        else:
            shares = {"members": 4, "samples": 3, "images": 500, "shares": [1, 0.5]}
        run("evaluation_shares", lambda: evaluation_shares.measure(model, **shares))
        if gpu:
            workload = {"workload": "cifar", "seeds": 2, "images": 10_000, "epochs": (2, 6)}
        else:
            workload = {"workload": "digits", "seeds": 4, "epochs": (20, 200)}
        run("overhead", lambda: overhead.measure(Path(folder) / "overhead", device=args.device, **workload))


if __name__ == "__main__":
    main()
