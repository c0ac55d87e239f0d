"""Framework overhead of the quickstart's MAP stage: Ray Tune + MLflow vs a plain loop, same epochs.

Run: ``python benchmarks/overhead.py [--full]``. Prints the two wall times and their ratio
(framework / plain; 1.0 means no overhead). Ray's start-up is timed separately, as it is paid once
per sweep, not per stage. ``--full`` also times the whole quickstart sweep end to end.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import ray

from bdlsweep.sweeps.pipeline import RAY_DEFAULTS, run_sweep
from bdlsweep.sweeps.spec import load_spec
from bdlsweep.sweeps.stage import run_stage
from bdlsweep.sweeps.tracking import ensure_experiment
from bdlsweep.trainables.context import TrialContext
from bdlsweep.trainables.map import MAPPosterior
from bdlsweep.trainables.training import (
    CLASSIFICATION,
    build_optimizer,
    build_schedule,
    predictive_outputs,
    seed_everything,
    train_epoch,
)

QUICKSTART = Path(__file__).parents[1] / "sweeps" / "quickstart.yaml"


def plain_map(spec) -> float:
    """Seconds for the MAP stage's training in one process: same seeds, epochs, validation, saves."""
    stage = spec.stages["map"]
    settings = stage.settings
    context = TrialContext(
        spec.name, "map", spec.dataset, spec.dataset_options, spec.model, spec.model_options
    )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        for seed in spec.seeds:
            generator = seed_everything(seed)
            data = context.load_data()
            recipe = context.recipe(data)
            model = recipe.build()
            optimizer = build_optimizer(model.parameters(), settings.optimizer)
            schedule = build_schedule(optimizer, settings.schedule, settings.epochs)
            for _ in range(settings.epochs):
                train_epoch(
                    model, optimizer, data.train.inputs, data.train.labels, settings.batch_size, generator
                )
                schedule.step()
                CLASSIFICATION.validation(predictive_outputs(model, data.val.inputs)[None], data.val.labels)
                MAPPosterior(model, recipe).save(Path(folder) / f"seed{seed}")
    return time.perf_counter() - start


def framework_map(spec) -> float:
    """Seconds for the MAP stage through Ray Tune with MLflow logging (Ray already running)."""
    experiment_id = ensure_experiment(spec.tracking_uri, spec.experiment, spec.storage / "mlartifacts")
    start = time.perf_counter()
    run_stage(spec, spec.stages["map"], {}, experiment_id)
    return time.perf_counter() - start


def measure(storage: Path, overrides: list[str]) -> dict:
    """Both times of the quickstart's MAP stage (with ``overrides``) and their ratio; Ray must be running."""
    spec = load_spec(QUICKSTART, [f"storage={storage}", *overrides])
    plain = plain_map(spec)
    framework = framework_map(spec)
    return {
        "seeds": len(spec.seeds),
        "epochs": spec.stages["map"].settings.epochs,
        "plain_s": plain,
        "framework_s": framework,
        "ratio": framework / plain,
    }


def main() -> None:
    """Measure and print the overhead ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="also time the whole quickstart sweep")
    args = parser.parse_args()
    import os

    for key, value in RAY_DEFAULTS.items():
        os.environ.setdefault(key, value)
    with tempfile.TemporaryDirectory() as storage:
        start = time.perf_counter()
        ray.init(include_dashboard=False, log_to_driver=False)
        startup = time.perf_counter() - start
        figures = measure(Path(storage) / "map", [])
        print(f"MAP stage, {figures['seeds']} seeds × {figures['epochs']} epochs (digits, MLP)")
        print(f"plain PyTorch loop:      {figures['plain_s']:7.2f} s")
        framework = figures["framework_s"]
        print(f"Ray Tune + MLflow stage: {framework:7.2f} s  (Ray start-up {startup:.2f} s, not included)")
        print(f"overhead ratio:          {figures['ratio']:7.2f}")
        if args.full:
            full_spec = load_spec(QUICKSTART, [f"storage={storage}/full"])
            start = time.perf_counter()
            run_sweep(full_spec)
            print(f"whole quickstart sweep:  {time.perf_counter() - start:7.2f} s")
        ray.shutdown()


if __name__ == "__main__":
    main()
