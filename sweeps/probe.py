"""``bdlsweep run --dry-run --probe``: time one shortened trial of each stage here (or on the cluster at
``ray.address``) and scale it by the plan into wall time and CPU-/GPU-hours.

Each stage's probe runs three trials at its first grid point and first seed, one after another in one
reused Ray actor (as the stage's trials run) with the stage's resources, in a temporary folder, from the
probe of its parent stage: the method's ``probe`` settings (a few steps of the real size) twice, then
with every step count doubled. The first trial warms the actor (process start, imports); the other two
give the seconds per training-set pass (their difference over the difference of their passes) and
each trial's fixed cost (data, model, validation). A method's once-per-seed preparation is timed too.
The estimate assumes every trial costs its passes at that rate plus that fixed cost, and that the
cluster runs as many trials at once as its CPUs and GPUs hold (as Ray packs them). Nothing is written
to the sweep's storage or MLflow.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import ray
from ray import tune

from bdlsweep.storage.locations import Location
from bdlsweep.sweeps.cluster.ray_session import ray_for
from bdlsweep.sweeps.cost.training_cost import StageCost, stage_cost
from bdlsweep.sweeps.pipeline import prepare_data
from bdlsweep.sweeps.running.stage import stage_context
from bdlsweep.sweeps.spec.models import StageSpec, SweepSpec
from bdlsweep.sweeps.spec.stage_grid import grid_settings
from bdlsweep.sweeps.spec.stage_parents import parent_problems
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.reporting import POSTERIOR_DIR
from bdlsweep.trainables.settings import MethodSettings


@dataclass(frozen=True)
class StageProbe:
    """What one stage's probe measured and what it predicts for the whole stage."""

    stage: str
    seconds_per_pass: float
    trial_fixed_s: float
    prepare_s: float
    at_once: int
    trial_seconds: float  # every trial's estimated time, summed
    wall_s: float
    cpu_hours: float
    gpu_hours: float


def trial_rates(passes: list[float], seconds: list[float]) -> tuple[float, float]:
    """(seconds per pass, fixed seconds per trial) from two trials of ``passes`` that took ``seconds``.
    When timing noise makes the longer trial no slower, all of its time is put on its passes."""
    short, long = passes
    if long <= short:
        return 0.0, sum(seconds) / len(seconds)
    per_pass = (seconds[1] - seconds[0]) / (long - short)
    if per_pass <= 0:
        return seconds[1] / long, 0.0
    return per_pass, max(0.0, seconds[0] - per_pass * short)


def _at_once(stage: StageSpec) -> int:
    """How many of the stage's trials the cluster runs at once (at least one)."""
    available = ray.cluster_resources()
    limits = [available.get("CPU", 0) / stage.resources.cpu] if stage.resources.cpu else []
    limits += [available.get("GPU", 0) / stage.resources.gpu] if stage.resources.gpu else []
    return max(1, int(min(limits, default=1)))


def _probe_settings(stage: StageSpec, scale: int, point: int = 0) -> MethodSettings:
    """The stage's settings at grid point ``point`` (the first by default), shortened by the method's
    ``probe`` settings with their step counts (the integers) multiplied by ``scale``, and its
    ``probe_fixed`` settings as given."""
    first = grid_settings(stage)[point].model_dump()
    probe = {
        key: value * scale if isinstance(value, int) and not isinstance(value, bool) else value
        for key, value in stage.method_info.probe.items()
    }
    return stage.method_info.settings.model_validate({**first, **probe, **stage.method_info.probe_fixed})


def probe_points(stage: StageSpec) -> list[int]:
    """The grid points a probe may try, in order: first, last, middle (until one trains)."""
    points = len(grid_settings(stage))
    return list(dict.fromkeys((0, points - 1, points // 2)))


def check_probe_plan(spec: SweepSpec) -> None:
    """Raise ``ValueError`` unless every stage's probe settings (at each point and step scale it may run)
    validate and can start from its parent stage's probe: what ``probe_sweep`` needs before it runs."""

    def probed(stage: StageSpec) -> list[MethodSettings]:
        return [_probe_settings(stage, scale, point) for point in probe_points(stage) for scale in (1, 2)]

    for name, key, problem in parent_problems(spec.stages, probed):
        raise ValueError(f"probe of stage {name}: {key}: {problem} (the method's probe settings)")


def _run_probe_trials(
    stage: StageSpec, settings: list[MethodSettings], context: TrialContext, seed: int, folder: Path
) -> list[tune.Result]:
    """One trial per entry of ``settings``, in order, in one reused actor with the stage's resources."""
    trainable = tune.with_resources(
        tune.with_parameters(stage.method_info.trainable, context=context), stage.resources.as_tune()
    )
    configs = [setting.model_dump() for setting in settings]
    space: dict = {"seed": seed, "probe_trial": tune.grid_search(list(range(len(configs))))}
    for key in configs[0]:
        values = [config[key] for config in configs]
        space[key] = tune.sample_from(lambda config, values=values: values[config["probe_trial"]])
    tune_config = tune.TuneConfig(max_concurrent_trials=1, reuse_actors=True)
    run_config = tune.RunConfig(name=stage.name, storage_path=str(folder), verbose=0)
    grid = tune.Tuner(trainable, param_space=space, tune_config=tune_config, run_config=run_config).fit()
    results = sorted(grid, key=lambda result: result.config["probe_trial"])
    for result in results:
        if result.error is not None:
            raise RuntimeError(f"probe of stage {stage.name} failed: {result.error}")
    return results


def _prepare(stage: StageSpec, context: TrialContext, seed: int, folder: Path) -> tuple[TrialContext, float]:
    """Run the stage's once-per-seed preparation (if any) for ``seed``; the context and its seconds."""
    prepare = stage.method_info.prepare
    if prepare is None:
        return context, 0.0
    task = ray.remote(prepare).options(num_cpus=stage.resources.cpu, num_gpus=stage.resources.gpu)
    started = time.monotonic()
    ray.get(task.remote(context, stage.settings, seed, str(folder)))
    return replace(context, prepared={seed: str(folder)}), time.monotonic() - started


def estimate(
    stage: StageSpec, cost: StageCost, per_pass: float, fixed: float, prepare_s: float, at_once: int
) -> StageProbe:
    """The stage's time from measured rates: every trial its fixed seconds plus its passes at
    ``per_pass``, ``at_once`` trials at a time, and each seed's preparation; busy hours per resource."""
    trial_seconds = cost.trials * (fixed + per_pass * cost.per_trial)
    prepare_total = prepare_s * cost.seeds
    wall = trial_seconds / at_once + prepare_total / min(at_once, cost.seeds)
    busy_hours = (trial_seconds + prepare_total) / 3600
    return StageProbe(
        stage.name,
        per_pass,
        fixed,
        prepare_s,
        at_once,
        trial_seconds,
        wall,
        busy_hours * stage.resources.cpu,
        busy_hours * stage.resources.gpu,
    )


def probe_stage(
    spec: SweepSpec, stage: StageSpec, parents: dict[str, str], folder: Path
) -> tuple[StageProbe, str]:
    """Time ``stage``'s probe (from the probed parent checkpoints in ``parents``); its estimate and its
    checkpoint's posterior folder (what a later stage's probe starts from)."""
    seed = spec.seeds[0]
    context = stage_context(spec, stage, {seed: parents[stage.parent]} if stage.parent else {})
    context, prepare_s = _prepare(stage, context, seed, folder / "prepared" / stage.name)
    for point in probe_points(stage):
        settings = [_probe_settings(stage, scale, point) for scale in (1, 1, 2)]
        results = _run_probe_trials(stage, settings, context, seed, folder / f"point_{point}")
        if results[0].checkpoint is not None:
            break
    else:
        raise RuntimeError(
            f"probe of stage {stage.name}: its trials diverged at the first, last and middle grid points; "
            "nothing to time or to start the next stages from"
        )
    passes = [stage.method_info.passes.per_trial(setting) for setting in settings[1:]]
    per_pass, fixed = trial_rates(passes, [result.metrics["time_total_s"] for result in results[1:]])
    cost = stage_cost(stage, spec.seeds, max(1, len(spec.cells)))
    probe = estimate(stage, cost, per_pass, fixed, prepare_s, _at_once(stage))
    return probe, str(Path(results[0].checkpoint.path) / POSTERIOR_DIR)


def probe_sweep(spec: SweepSpec) -> list[StageProbe]:
    """Probe every stage in order, each from its parent's probe, in a temporary folder."""
    probes, parents = [], {}
    scratch = tempfile.TemporaryDirectory(prefix="bdlsweep-probe-")
    check_probe_plan(spec)
    with ray_for(spec.ray.address, spec.ray.num_cpus), scratch as folder:
        spec = prepare_data(spec.model_copy(update={"storage": Location.parse(folder)}))
        for stage in spec.stages.values():
            probe, parents[stage.name] = probe_stage(spec, stage, parents, Path(folder))
            probes.append(probe)
    return probes


def describe_probes(probes: list[StageProbe]) -> list[str]:
    """Lines for the dry run: per stage the measured rates and the estimate, then the totals."""
    lines = []
    for probe in probes:
        prepare = f", preparation {probe.prepare_s:.1f} s per seed" if probe.prepare_s else ""
        lines.append(
            f"  {probe.stage}: {probe.seconds_per_pass:.3g} s per pass, {probe.trial_fixed_s:.3g} s per "
            f"trial besides{prepare}; {probe.at_once} at once → ~{_hours(probe.wall_s)}, "
            f"{probe.cpu_hours:.3g} CPU-h, {probe.gpu_hours:.3g} GPU-h"
        )
    wall = sum(probe.wall_s for probe in probes)
    cpu, gpu = sum(p.cpu_hours for p in probes), sum(p.gpu_hours for p in probes)
    lines.append(f"  total: ~{_hours(wall)} wall time, {cpu:.3g} CPU-hours, {gpu:.3g} GPU-hours")
    lines.append("  (trials and preparations only: Ray's start, Tune's upkeep and evaluation come on top)")
    return lines


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.3g} h" if seconds >= 3600 else f"{seconds / 60:.3g} min"
