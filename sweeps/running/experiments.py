"""How a stage becomes Tuners: param spaces (grid × seeds, or one Optuna search per seed)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ray import tune
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from bdlsweep.search_spaces import Range
from bdlsweep.storage.locations import Location
from bdlsweep.sweeps.running.resumable_asha import ResumableASHA
from bdlsweep.sweeps.spec.models import StageSpec, SweepSpec
from bdlsweep.sweeps.spec.stage_grid import grid_settings, merged, nested
from bdlsweep.sweeps.tracking.records import flatten
from bdlsweep.trainables.runtime.reporting import SELECTION_METRIC
from bdlsweep.trainables.runtime.suite_cell import CELL


def _with_search(stage: StageSpec, seed: Any, domain) -> dict[str, Any]:
    space = {**stage.settings.model_dump(), "seed": seed}
    for key, values in stage.search.items():
        space = merged(space, nested(key, domain(values)))
    return space


@dataclass(frozen=True)
class CellValue:
    """A setting that differs between a suite's cells, resolved per trial from the cell in its config
    (Tune's ``sample_from``, called with the config whose grid values are already chosen)."""

    by_cell: dict[str, Any]

    def __call__(self, config: dict[str, Any]) -> Any:
        return self.by_cell[config[CELL]]


def _per_cell_settings(spec: SweepSpec, stage: StageSpec) -> dict[str, Any]:
    """The stage's settings that a suite's cells set differently, each as a ``sample_from`` of the cell."""
    cells = spec.cell_specs()
    dumps = {cell.cell: flatten(cell.stages[stage.name].settings.model_dump()) for cell in cells}
    differing = {}
    for key, value in flatten(stage.settings.model_dump()).items():
        values = {name: leaves[key] for name, leaves in dumps.items()}
        if any(other != value for other in values.values()):
            differing[key] = tune.sample_from(CellValue(values))
    return differing


def _grid(values: list[Any]):
    return tune.grid_search(list(values))


def _shuffled_grid(seed: int):
    """A grid domain that lists its values in an order fixed by ``seed`` (a resumed run gets the same).

    ASHA judges a trial at a rung against the trials that reached it earlier. A grid sorted from worse
    to better values (learning rates often are) makes each new trial the best so far at every rung, and
    nothing is stopped; in a random order the rungs fill with a fair sample first."""
    order = random.Random(seed)

    def domain(values: list[Any]):
        shuffled = list(values)
        order.shuffle(shuffled)
        return tune.grid_search(shuffled)

    return domain


def _range_domain(values: list[Any] | Range):
    if isinstance(values, Range):
        sampler = {"uniform": tune.uniform, "loguniform": tune.loguniform, "randint": tune.randint}
        return sampler[values.kind](values.low, values.high)
    return tune.choice(list(values))


@dataclass(frozen=True)
class Experiment:
    """One Tuner of a stage: where it lives, its param space and how it searches."""

    storage_path: Location
    name: str
    param_space: dict[str, Any]
    tune_config: tune.TuneConfig
    tag: str = ""

    @property
    def tune_experiment(self) -> str:
        """What its trials' MLflow runs are tagged with to tell this Tuner apart (``<cell>/seed_<n>``
        for a suite's per-seed Tuners, the folder name otherwise)."""
        return self.tag or self.name

    @property
    def folder(self) -> str:
        """The Tuner's experiment folder (path or URI), which Tune restores from."""
        return str(self.storage_path / self.name)


def experiments(spec: SweepSpec, stage: StageSpec) -> list[Experiment]:
    """A grid stage is one Tuner (grid × seeds, and × a suite's cells); a searcher stage, or one stopped
    early by a scheduler, is one Tuner per seed (and cell): an Optuna search, or the grid, with the
    seed's ASHA rungs."""
    cells = [cell.name for cell in spec.cells]
    if stage.searcher is None and stage.scheduler is None:
        space = _with_search(stage, _grid(spec.seeds), _grid)
        if cells:
            space[CELL] = _grid(cells)
            for key, value in _per_cell_settings(spec, stage).items():
                space = merged(space, nested(key, value))
        return [Experiment(spec.storage, stage.name, space, tune.TuneConfig(reuse_actors=True))]
    runs = []
    for cell in spec.cell_specs():
        cell_stage = cell.stages[stage.name]
        for seed in spec.seeds:
            config = tune.TuneConfig(reuse_actors=True, scheduler=_scheduler(cell_stage))
            if stage.searcher is not None:
                optuna = OptunaSearch(metric=SELECTION_METRIC, mode="max", seed=stage.searcher.seed + seed)
                config.search_alg = ConcurrencyLimiter(optuna, max_concurrent=stage.searcher.max_concurrent)
                config.num_samples = stage.searcher.num_samples
            domain = _shuffled_grid(seed) if stage.searcher is None else _range_domain
            space = _with_search(cell_stage, seed, domain)
            space.update({CELL: cell.cell} if cell.cell else {})
            folder = cell.layout.stage_seed(stage.name, seed)
            tag = f"{cell.cell}/{folder.name}" if cell.cell else ""
            runs.append(Experiment(folder.parent, folder.name, space, config, tag))
    return runs


def _scheduler(stage: StageSpec) -> ResumableASHA | None:
    """The stage's ASHA over reports (one per step), up to its longest trial, with rungs that survive a
    resume; None without a scheduler."""
    if stage.scheduler is None:
        return None
    return ResumableASHA(
        time_attr="training_iteration",
        metric=stage.scheduler.metric,
        mode="max",
        max_t=max(stage.method_info.steps(settings) for settings in grid_settings(stage)),
        grace_period=stage.scheduler.grace_epochs,
        reduction_factor=stage.scheduler.reduction_factor,
    )
