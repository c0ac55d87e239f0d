"""Framework overhead of a MAP stage: Ray Tune + MLflow vs the same epochs in a plain loop in one process.

Run: ``python benchmarks/overhead.py [--workload digits|cifar] [--device cuda] [--epochs 20 200]``.
``digits`` is the quickstart's MAP stage (MLP, 4 seeds); ``cifar`` is the CIFAR-10 sweep's MAP stage
(WRN-16-4) on synthetic CIFAR-10 files in the public pickle format (``--images`` training images).
For each epoch count it prints the plain loop's and the stage's wall times and their ratio
(framework / plain; 1.0 = no overhead). With two counts it splits the stage's cost into a fixed
part (actor start-up, imports, Tune and MLflow bookkeeping) and a marginal ratio (what each further
epoch costs through the framework over the plain loop), which is the ratio long trials tend to.
It also times the plain loop run as its own ``python`` process (interpreter, imports included), the
cost a researcher's hand-written script pays. Ray's start-up is paid once per sweep and timed apart.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from stage_timing import timed_stage
from synthetic_cifar import write_synthetic_cifar10

from bdlsweep.sweeps.cluster.ray_session import ray_for
from bdlsweep.sweeps.spec.loading import load_spec
from bdlsweep.sweeps.spec.models import SweepSpec
from bdlsweep.trainables.methods.map import MAPPosterior
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.optimization import build_optimizer, build_schedule
from bdlsweep.trainables.runtime.training import for_training, seed_everything, train_epoch

SWEEPS = Path(__file__).parents[1] / "sweeps"
WORKLOADS = {"digits": SWEEPS / "quickstart.yaml", "cifar": SWEEPS / "cifar10_wrn16_4.yaml"}


def workload_spec(
    workload: str, storage: Path, device: str, seeds: int, images: int, epochs: int
) -> SweepSpec:
    """The sweep whose MAP stage is timed, at ``epochs``, on this machine's resources."""
    gpu = 1 if device == "cuda" else 0
    overrides = [
        f"storage={storage}",
        f"seeds={seeds}",
        "evaluate.ensemble_sizes=[1]",  # the stage alone is timed; the sweep file's K must fit the seeds
        "evaluate.ensemble_file=null",
        f"stages.map.epochs={epochs}",
        f"stages.map.resources={{cpu: 1, gpu: {gpu}}}",
    ]
    if workload == "cifar":
        data_dir = storage.parent / "synthetic_cifar"
        if not data_dir.is_dir():
            write_synthetic_cifar10(data_dir, images)
        dataset = f"name: cifar10, data_dir: {data_dir}, val_size: {images // 10}, shift: generated, ood: []"
        overrides += [f"dataset={{{dataset}}}", "evaluate.splits=[test, shift]"]
    return load_spec(WORKLOADS[workload], overrides)


def plain_stage(spec: SweepSpec, device: torch.device) -> float:
    """Seconds of the MAP stage's training in this process: same seeds, epochs, validation and saves."""
    settings = spec.stages["map"].settings
    context = TrialContext(
        spec.name, "map", spec.dataset, spec.dataset_options, spec.model, spec.model_options
    )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        for seed in spec.seeds:
            generator = seed_everything(seed)
            data = context.load_data(device)
            recipe = context.recipe(data)
            model = recipe.build().to(device)
            optimizer = build_optimizer(model.parameters(), settings.optimizer)
            schedule = build_schedule(optimizer, settings.schedule, settings.epochs)
            trained = for_training(model, settings.speed)
            augment = data.augment if settings.augment else None
            for _ in range(settings.epochs):
                train_epoch(
                    trained,
                    optimizer,
                    data.train.inputs,
                    data.train.labels,
                    settings.batch_size,
                    generator,
                    recipe.output_model,
                    augment,
                    settings.speed,
                )
                schedule.step()
                posterior = MAPPosterior(model, recipe)
                outputs = posterior.predict(
                    data.val.inputs, 1, torch.Generator(device=device).manual_seed(seed)
                )
                recipe.output_model.validation(outputs, data.val.labels)
                posterior.save(Path(folder) / f"seed{seed}")
    return time.perf_counter() - start


PLAIN_SCRIPT = """
import json, sys
from pathlib import Path
import torch
sys.path.insert(0, sys.argv[1])
import overhead
workload, storage, device, seeds, images, epochs = json.loads(sys.argv[2])
spec = overhead.workload_spec(workload, Path(storage), device, seeds, images, epochs)
overhead.plain_stage(spec, torch.device(device))
"""


def plain_process_seconds(
    workload: str, storage: Path, device: str, seeds: int, images: int, epochs: int
) -> float:
    """Wall seconds of the plain loop as a fresh ``python`` process (interpreter and imports included)."""
    arguments = json.dumps([workload, str(storage), device, seeds, images, epochs])
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", PLAIN_SCRIPT, str(Path(__file__).parent), arguments], check=True)
    return time.perf_counter() - start


def measure(
    storage: Path,
    workload: str = "digits",
    device: str = "cpu",
    seeds: int = 4,
    images: int = 5000,
    epochs: tuple[int, ...] = (20, 200),
) -> dict:
    """Plain, plain-as-a-process and framework seconds per epoch count, ratios, and the fixed/marginal
    split of the framework's cost (with two or more counts); Ray must be running."""
    rows = []
    for count in epochs:
        spec = workload_spec(workload, storage / f"epochs_{count}", device, seeds, images, count)
        plain = plain_stage(spec, torch.device(device))
        framework, peak = timed_stage(spec, "map")
        rows.append(
            {
                "epochs": count,
                "plain_s": plain,
                "framework_s": framework,
                "ratio": framework / plain,
                "trial_peak_gpu_mib": peak,
            }
        )
    first, last = rows[0], rows[-1]
    figures = {"workload": workload, "device": device, "seeds": seeds, "runs": rows}
    script = plain_process_seconds(workload, storage / "script", device, seeds, images, first["epochs"])
    figures["plain_process_s"] = script
    figures["ratio_vs_plain_process"] = first["framework_s"] / script
    if last["epochs"] != first["epochs"]:
        marginal = (last["framework_s"] - first["framework_s"]) / (last["plain_s"] - first["plain_s"])
        figures["marginal_ratio"] = marginal
        figures["fixed_s"] = first["framework_s"] - marginal * first["plain_s"]
    return figures


def main() -> None:
    """Measure and print the overhead figures as one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="digits")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--images", type=int, default=5000, help="synthetic CIFAR training images")
    parser.add_argument("--epochs", type=int, nargs="+", default=[20, 200])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as storage:
        start = time.perf_counter()
        with ray_for():
            startup = time.perf_counter() - start
            figures = measure(
                Path(storage), args.workload, args.device, args.seeds, args.images, tuple(args.epochs)
            )
        print(json.dumps({**figures, "ray_start_s": startup}, indent=2))


if __name__ == "__main__":
    main()
