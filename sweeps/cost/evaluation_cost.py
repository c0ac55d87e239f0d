"""What an evaluation plan costs in sampled forward passes, counted before anything runs (``--dry-run``).

Per evaluation set, a method's ensembles read sample prefixes of their members. Predicting each
member once costs the longest prefix any ensemble reads of it (one pass for a deterministic
member); re-predicting every ensemble's members afresh, as the actor-per-method evaluation did,
cost each ensemble its whole sample count (K passes for deterministic members).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bdlsweep.sweeps.evaluation.ensemble_assembly import ensemble_draw, needed_lengths
from bdlsweep.sweeps.spec.models import SweepSpec
from bdlsweep.trainables.registry import posterior_class


@dataclass(frozen=True)
class MethodCost:
    """One evaluated selection's member tasks (a Ray task predicts one member) and sampled forward
    passes per evaluation set."""

    label: str
    member_tasks: int
    passes_per_member: int
    passes_per_ensemble: int


def method_costs(spec: SweepSpec, plan: pd.DataFrame) -> list[MethodCost]:
    """The cost of evaluating ``plan`` for each of the sweep's evaluated selections."""
    settings = spec.evaluate.task_settings()
    ensembles = list(plan[["K", "ensemble_id", "model_ids"]].itertuples(index=False, name=None))
    names = spec.selection_names()
    costs = []
    for label in spec.evaluate.methods:
        stage_name, derived = names[label]
        stage = spec.stages[stage_name]
        once = posterior_class(stage.method, derived).predicts_once(stage.settings)
        draws = [ensemble_draw(label, *ensemble, settings, once) for ensemble in ensembles]
        lengths = needed_lengths(draws)
        per_member = sum(1 if once else max(values) for values in lengths.values())
        per_ensemble = sum(len(draw.draws) for draw in draws)
        costs.append(MethodCost(label, len(lengths), per_member, per_ensemble))
    return costs


def describe_costs(costs: list[MethodCost]) -> list[str]:
    """Lines for the dry run: per method and in total, member tasks and sampled forward passes per
    evaluation set, now (each member once) and as each ensemble re-predicting its members would."""
    lines = []
    for cost in costs:
        lines.append(
            f"  {cost.label}: {cost.member_tasks} member tasks; sampled forward passes per set "
            f"{cost.passes_per_member} (per ensemble: {cost.passes_per_ensemble})"
        )
    member = sum(cost.passes_per_member for cost in costs)
    ensemble = sum(cost.passes_per_ensemble for cost in costs)
    ratio = f"{ensemble / member:.1f}× fewer" if member else "none"
    lines.append(
        f"  total: {sum(cost.member_tasks for cost in costs)} member tasks; sampled forward passes per set "
        f"{member} (per ensemble: {ensemble}; {ratio})"
    )
    return lines
