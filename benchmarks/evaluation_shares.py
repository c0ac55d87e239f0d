"""Ensemble evaluation's wall time on a CIFAR-shaped test set at several GPU shares per member task.

Run: ``python benchmarks/evaluation_shares.py [--model wide_resnet] [--members 8] [--samples 10]
[--images 10000] [--shares 1 0.5 0.25 0.125]``. Times the sweep's evaluation (``evaluate_ensembles``:
one Ray map task per member at ``evaluate.resources``, reduce tasks per method) of MC dropout members
(dropout 0.1; untrained, since prediction cost is what is timed) on synthetic CIFAR-10 files, for
each share in turn. The baseline is the first share (by default ``gpu: 1``: one member task at a time
on a one-GPU machine), measured in the same run; a warm-up evaluation at the smallest share starts
the Ray workers (and their CUDA contexts) first. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import ray
import torch
from synthetic_cifar import write_synthetic_cifar10

from bdlsweep.sweeps.cluster.ray_session import ray_for
from bdlsweep.sweeps.evaluation.map_reduce import evaluate_ensembles
from bdlsweep.sweeps.reading.ensemble_members import plan_ensembles
from bdlsweep.sweeps.running.selection import Selection, TrialRecord
from bdlsweep.trainables.methods.mc_dropout import MCDropoutPosterior
from bdlsweep.trainables.posteriors.base import ModelRecipe

MODEL_OPTIONS = {"wide_resnet": {"depth": 16, "widen_factor": 4, "dropout": 0.1}, "cnn": {"dropout": 0.1}}


def member_selection(folder: Path, model: str, members: int) -> Selection:
    """``members`` MC dropout networks saved as posterior folders, selected one per seed."""
    recipe = ModelRecipe(model, MODEL_OPTIONS[model], (3, 32, 32), 10)
    records = {}
    for seed in range(1, members + 1):
        torch.manual_seed(seed)
        path = MCDropoutPosterior(recipe.build(), recipe).save(folder / f"member{seed}")
        records[seed] = TrialRecord(f"trial{seed}", seed, {}, {}, str(path))
    return Selection("mc_dropout", "mc_dropout", "mc_dropout", None, "val_elpd", records)


def evaluation_seconds(selection: Selection, data_dir: Path, samples: int, share: float) -> float:
    """Wall time of one evaluation of every ensemble size up to all members, at ``share`` GPUs per task
    (CPU tasks when no GPU is visible)."""
    seeds = sorted(selection.members)
    plan = plan_ensembles(seeds, sorted({1, 2, len(seeds) // 2, len(seeds)}), 3)
    settings = {
        "num_posterior_samples": samples,
        "subsample_sizes": sorted({1, samples}),
        "stratified": True,
        "splits": ["test"],
        "seed": 0,
    }
    options = {"data_dir": str(data_dir), "val_size": 100, "shift": "generated", "ood": []}
    resources = {"cpu": 1, "gpu": share} if torch.cuda.is_available() else {"cpu": share}
    start = time.perf_counter()
    frames = evaluate_ensembles({"mc_dropout": selection}, plan, "cifar10", options, settings, resources)
    seconds = time.perf_counter() - start
    if frames.ensembles.empty:
        raise RuntimeError("the evaluation returned no ensemble rows")
    return seconds


def measure(model: str, members: int, samples: int, images: int, shares: list[float]) -> dict:
    """Seconds of the evaluation at each share (Ray already running), the speed-up of each over the
    first share, and how many member tasks the machine runs at once at each."""
    unit = "GPU" if torch.cuda.is_available() else "CPU"
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "cifar"
        write_synthetic_cifar10(data_dir, 1000, test=images)
        selection = member_selection(Path(folder), model, members)
        evaluation_seconds(selection, data_dir, 1, min(shares))
        seconds = {share: evaluation_seconds(selection, data_dir, samples, share) for share in shares}
    first = seconds[shares[0]]
    return {
        "model": model,
        "members": members,
        "samples": samples,
        "images": images,
        "image_forwards": members * samples * images,
        "seconds": {f"{share:g}": value for share, value in seconds.items()},
        "speedup_vs_first_share": {f"{share:g}": first / value for share, value in seconds.items()},
        "tasks_at_once": {
            f"{share:g}": min(members, int(ray.cluster_resources().get(unit, 0) / share + 1e-9))
            for share in shares
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODEL_OPTIONS), default="wide_resnet")
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--shares", type=float, nargs="+", default=[1, 0.5, 0.25, 0.125])
    args = parser.parse_args()
    started = time.perf_counter()
    with ray_for():
        figures = measure(args.model, args.members, args.samples, args.images, args.shares)
    print(json.dumps({"benchmark": "evaluation_shares", **figures, "wall_s": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
