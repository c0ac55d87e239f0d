"""Wall time of one stage of a sweep through Ray Tune and MLflow, and its trials' peak GPU memory."""

from __future__ import annotations

import time

from bdlsweep.analysis import results
from bdlsweep.sweeps.running.stage import run_stage
from bdlsweep.sweeps.spec.models import SweepSpec
from bdlsweep.sweeps.tracking.records import ensure_experiment
from bdlsweep.trainables.runtime.reporting import GPU_MEMORY_PEAK


def timed_stage(spec: SweepSpec, stage: str) -> tuple[float, float | None]:
    """Seconds of running ``stage`` (Ray already running; MLflow's experiment made before the clock
    starts) and the largest peak CUDA memory (MiB) a trial reported, None when trials ran on CPU."""
    experiment_id = ensure_experiment(spec.tracking_uri, spec.experiment, spec.layout.mlflow_artifacts)
    start = time.perf_counter()
    run_stage(spec, spec.stages[stage], {}, experiment_id)
    seconds = time.perf_counter() - start
    trials = results.trials(spec.storage, stage)
    peak = float(trials[GPU_MEMORY_PEAK].max()) if GPU_MEMORY_PEAK in trials else None
    return seconds, peak
