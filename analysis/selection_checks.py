"""Selections a researcher must look at: a posterior worse on validation than the model it starts from,
and trials whose validation score sits orders of magnitude below the rest of their seed's.

Both stay finite, so neither is caught as divergence: a SWAG learning rate too large for a small
regression set can give a validation RMSE of 10^5 standardised units and still be selected when the
whole grid is too large.
"""

from __future__ import annotations

import statistics
from typing import Any

from bdlsweep.analysis.grid_edges import selected_edges
from bdlsweep.analysis.number_text import distinct_numbers

FAR_BELOW = 10.0  # an outlier is worse than its seed's median by more than FAR_BELOW × max(|median|, 1)


def worse_seeds(selected: dict[int, float], parent: dict[int, float]) -> dict[int, float]:
    """The seeds (in order) whose selected validation score is below their parent's → that score."""
    return {
        seed: value for seed, value in sorted(selected.items()) if seed in parent and value < parent[seed]
    }


def worse_than_parent_notes(
    label: str,
    method: str,
    metric: str,
    selected: dict[int, float],
    parent_label: str,
    parent: dict[int, float],
    search: dict[str, Any] | None = None,
    configs: dict[int, dict[str, Any]] | None = None,
) -> list[str]:
    """One note naming the seeds whose selected ``metric`` (``selected``: seed → value) is below the
    validation ELPD of the parent's selected member (``parent``: seed → value), with a hint (from the
    stage's ``search`` and the selected ``configs``, seed → config, where given; see ``_hint``)."""
    worse = worse_seeds(selected, parent)
    if not worse:
        return []
    listed = ", ".join(
        "seed {} {}={} < {}".format(seed, metric, *distinct_numbers(value, parent[seed]))
        for seed, value in worse.items()
    )
    worse_configs = {seed: (configs or {})[seed] for seed in worse if seed in (configs or {})}
    hint = _hint(method, search, worse_configs)
    return [f"{label} is worse on validation than the {parent_label} it starts from ({listed}): {hint}"]


def _hint(method: str, search: dict[str, Any] | None, configs: dict[int, dict[str, Any]]) -> str:
    """What to change: nothing is searched (``search`` empty): say so; the worse seeds' selections
    (``configs``) all at one edge of a searched grid: extend it past that edge; else the method's hint."""
    if search is not None and not search:
        return "it searches nothing: its settings are fixed by the sweep file (search a grid to tune them)"
    edges = selected_edges(search or {}, configs)
    if edges:
        beyond = {"lowest": "below", "highest": "above"}
        return "; ".join(
            f"{key} was selected at its grid's {edge} value: extend the grid {beyond[edge]} it"
            for key, edge in edges.items()
        )
    from bdlsweep.trainables.registry import selection_hint  # torch and every method: only for a hint

    return selection_hint(method)


def _checked_metrics(metric: str) -> dict[str, bool]:
    """The validation metrics whose outliers are looked for, each → whether higher is better: the
    selection metric and, for regression, its RMSE (which blows up long before the ELPD does, as the
    predicted variance grows with the error)."""
    return {metric: True, metric.replace("elpd", "rmse"): False}


def outlier_notes(
    label: str, metric: str, trials: dict[int, dict[str, float]], higher_is_better: bool = True
) -> list[str]:
    """One note per seed with trials (``trials``: seed → trial id → value) whose ``metric`` lies on
    the bad side of the seed's median by more than ``FAR_BELOW`` times the median's magnitude (at
    least 1)."""
    notes = []
    side = "below" if higher_is_better else "above"
    for seed, values in sorted(trials.items()):
        if len(values) < 2:
            continue
        median = statistics.median(values.values())
        margin = FAR_BELOW * max(abs(median), 1.0)
        far = {
            trial: value
            for trial, value in sorted(values.items())
            if (median - value if higher_is_better else value - median) > margin
        }
        if far:
            listed = ", ".join(f"{trial} {metric}={value:.4g}" for trial, value in far.items())
            notes.append(
                f"{label}: seed {seed} has trials orders of magnitude {side} the seed's median "
                f"{metric}={median:.4g} ({listed}): their settings blow up"
            )
    return notes


def blown_up_notes(label: str, metric: str, trials: list[tuple[str, int, dict]]) -> list[str]:
    """``outlier_notes`` over a label's selection metric and its RMSE, from finished trials given as
    (trial id, seed, reported metrics)."""
    notes = []
    for key, higher_is_better in _checked_metrics(metric).items():
        by_seed: dict[int, dict[str, float]] = {}
        for trial_id, seed, metrics in trials:
            if isinstance(metrics.get(key), (int, float)):
                by_seed.setdefault(seed, {})[trial_id] = float(metrics[key])
        notes += outlier_notes(label, key, by_seed, higher_is_better)
    return notes
