"""What a sweep's stages cost in passes over the training set, counted before anything runs (and
logged on the sweep's MLflow run).

Each method says how its trials read the training set (``Method.passes``: epochs; a full-batch
sampler's gradient or likelihood evaluations; a once-per-seed preparation). A grid stage sums that
over its grid points and seeds; a searcher stage counts its samples at the sweep file's settings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from bdlsweep.sweeps.spec.models import StageSpec, SweepSpec
from bdlsweep.sweeps.spec.stage_grid import grid_settings, trial_count


@dataclass(frozen=True)
class StageCost:
    """One stage's trials and its passes over the training set: per trial (the mean over its grid),
    per seed of its preparation, and in all."""

    stage: str
    method: str
    trials: int
    seeds: int
    per_trial: float
    per_seed: float
    rule: str
    early_stopping: bool = False  # the epochs are an upper bound

    @property
    def epochs(self) -> float:
        return self.trials * self.per_trial + self.seeds * self.per_seed

    def describe(self) -> str:
        """``3,000 epochs (100 per trial)``, with the preparation's share when it has one."""
        seeds = f" + {_amount(self.per_seed)} per seed" if self.per_seed else ""
        bound = "at most " if self.early_stopping else ""
        return f"{bound}{_amount(self.epochs)} epochs ({_amount(self.per_trial)} per trial{seeds})"


def _amount(value: float) -> str:
    """A count with thousands separators, or three significant digits when it has a fraction."""
    return f"{value:,.0f}" if value == round(value) or value >= 100 else f"{value:.3g}"


def stage_cost(stage: StageSpec, seeds: list[int], cells: int = 1) -> StageCost:
    """The cost of ``stage`` run for ``seeds`` (in each of a suite's ``cells``)."""
    passes = stage.method_info.passes
    per_point = [passes.per_trial(settings) for settings in grid_settings(stage)]
    return StageCost(
        stage.name,
        stage.method,
        trial_count(stage, seeds, cells),
        len(seeds) * cells,
        sum(per_point) / len(per_point),
        passes.per_seed,
        passes.rule,
        stage.scheduler is not None,
    )


def stage_costs(spec: SweepSpec) -> list[StageCost]:
    """The cost of each stage of ``spec``, in order; a suite's stage sums its cells' (whose settings,
    epochs among them, may differ)."""
    if not spec.cells:
        return [stage_cost(stage, spec.seeds) for stage in spec.stages.values()]
    cells = spec.cell_specs()
    costs = []
    for name in spec.stages:
        counts: dict[int, tuple[StageSpec, int]] = {}
        for cell in cells:
            cell_stage = cell.stages[name]
            counts[id(cell_stage)] = (cell_stage, counts.get(id(cell_stage), (cell_stage, 0))[1] + 1)
        parts = [stage_cost(cell_stage, spec.seeds, count) for cell_stage, count in counts.values()]
        trials = sum(part.trials for part in parts)
        per_trial = sum(part.trials * part.per_trial for part in parts) / trials if trials else 0.0
        seeds = sum(part.seeds for part in parts)
        costs.append(replace(parts[0], trials=trials, seeds=seeds, per_trial=per_trial))
    return costs


def describe_total(costs: list[StageCost]) -> str:
    """``1740 trials in 4 stages; 75,060 epochs (training-set passes)``."""
    trials, epochs = sum(cost.trials for cost in costs), sum(cost.epochs for cost in costs)
    return f"{trials} trials in {len(costs)} stages; {_amount(epochs)} epochs (training-set passes)"


def describe_rules(costs: list[StageCost]) -> list[str]:
    """One line per method: how its epochs are counted."""
    rules = {cost.method: cost.rule for cost in costs}
    return [f"  epochs of {method}: {rule}" for method, rule in rules.items()]


def log_planned_cost(client: MlflowClient, run_id: str, costs: list[StageCost]) -> None:
    """The sweep run's planned trials and epochs, per stage and in all (metrics, so sweeps compare in
    the MLflow UI)."""
    values = {f"planned_trials.{cost.stage}": cost.trials for cost in costs}
    values |= {f"planned_epochs.{cost.stage}": cost.epochs for cost in costs}
    values |= {"planned_trials": sum(c.trials for c in costs), "planned_epochs": sum(c.epochs for c in costs)}
    client.log_batch(run_id, metrics=[Metric(key, float(value), 0, 0) for key, value in values.items()])
