"""What ``bdlsweep run --dry-run`` prints: stages, trials, resources and costs; starts nothing."""

from __future__ import annotations

import pandas as pd

from bdlsweep.sweeps.cost.evaluation_cost import describe_costs, method_costs
from bdlsweep.sweeps.cost.training_cost import describe_rules, describe_total, stage_costs
from bdlsweep.sweeps.reading.ensemble_members import plan_shortfalls
from bdlsweep.sweeps.spec.models import Cell, Resources, SweepSpec
from bdlsweep.sweeps.tracking.records import flatten


def _resources(resources: Resources) -> str:
    parts = [f"cpu={resources.cpu:g}", f"gpu={resources.gpu:g}"]
    parts += [f"{name}={amount:g}" for name, amount in resources.custom.items()]
    return " ".join(parts)


def _cell_settings(cell: Cell) -> str:
    """``; its own settings: stages.map.epochs=300, ...`` for a cell that sets options of its own."""
    settings = ", ".join(f"{key}={value}" for key, value in flatten(cell.settings).items())
    return f"; its own settings: {settings}" if settings else ""


def describe_dry_run(spec: SweepSpec, plan: pd.DataFrame) -> list[str]:
    """One line per part of the sweep: data, each stage's trials and resources, the evaluation of the
    ensemble ``plan`` and its cost in member tasks and forward passes."""
    options = ", ".join(f"{key}={value}" for key, value in spec.dataset_options.items())
    lines = [f"sweep {spec.name} ({spec.source}): storage {spec.storage}, MLflow {spec.tracking_uri}"]
    if spec.cells:
        lines.append(
            f"suite: {len(spec.cells)} datasets × models, each with {len(spec.seeds)} seeds, "
            "in one Tuner per stage"
        )
        lines += [
            f"  cell {cell.name}: {cell.dataset} / {cell.model}{_cell_settings(cell)}" for cell in spec.cells
        ]
    else:
        lines.append(f"data: {spec.dataset}({options}); model: {spec.model}; seeds: {len(spec.seeds)}")
    cells = max(1, len(spec.cells))
    costs = {cost.stage: cost for cost in stage_costs(spec)}
    for stage in spec.stages.values():
        cost = costs[stage.name]
        search = ", ".join(
            f"{key}: {len(values)} values" if isinstance(values, list) else f"{key}: {values}"
            for key, values in stage.search.items()
        )
        how = f"optuna × {stage.searcher.num_samples} per seed" if stage.searcher else "grid × seeds"
        how += " × cells" if spec.cells else ""
        if stage.scheduler is not None:
            scheduler = stage.scheduler
            how += f"; ASHA per seed, grace {scheduler.grace_epochs}, η {scheduler.reduction_factor:g}"
        parent = f" from {stage.parent}" if stage.parent else ""
        length = cost.describe()
        if stage.refit:
            length += "; then each selection trained again on train + validation (refit)"
        if stage.steps is not None:
            settings = stage.settings
            length += f"; {stage.steps:,} steps = {settings.epochs} epochs of batch {settings.batch_size}"
        lines.append(
            f"stage {stage.name} ({stage.method}{parent}): {cost.trials} trials ({how}"
            f"{'; ' + search if search else ''}), each {_resources(stage.resources)}; "
            f"{length}"
        )
    evaluate = spec.evaluate
    per_cell = f" per cell, {len(plan) * cells} in all" if spec.cells else ""
    lines.append(
        f"evaluate: {', '.join(evaluate.methods)}; {len(plan)} ensembles{per_cell} "
        f"(K in {evaluate.ensemble_sizes}), "
        f"{evaluate.num_posterior_samples} posterior samples, splits {', '.join(evaluate.splits)}; "
        f"one task per member, each {_resources(evaluate.resources)}"
    )
    if spec.ensemble_file is None:
        shortfalls = plan_shortfalls(spec.seeds, evaluate.ensemble_sizes, evaluate.ensembles_per_size)
        lines += [f"  note: {line}" for line in shortfalls]
    lines += [
        line + (" (per cell)" if spec.cells else "") for line in describe_costs(method_costs(spec, plan))
    ]
    lines.append(f"total: {describe_total(list(costs.values()))}")
    lines += describe_rules(list(costs.values()))
    return lines
