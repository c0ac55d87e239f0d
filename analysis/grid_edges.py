"""Selected values on the edge of their grid: the best value may lie beyond it, so the grid should be
widened (e.g. an LLLA prior precision selected at the grid's largest value for most seeds)."""

from __future__ import annotations

from numbers import Real
from typing import Any

from bdlsweep.analysis.number_text import short_number

MIN_GRID = 3  # with two values every choice is an edge


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def selected_edges(search: dict[str, Any], configs: dict[int, dict[str, Any]]) -> dict[str, str]:
    """Each searched numeric hyper-parameter (grid of at least three values) whose selected value is
    the same edge of its grid for every seed in ``configs`` → that edge ("lowest" or "highest")."""
    edges = {}
    for key, grid in search.items():
        if not isinstance(grid, list) or len(set(grid)) < MIN_GRID or not configs:
            continue
        if not all(isinstance(value, Real) and not isinstance(value, bool) for value in grid):
            continue
        chosen = {_flat(config).get(key) for config in configs.values()}
        for edge, value in (("lowest", min(grid)), ("highest", max(grid))):
            if chosen == {value}:
                edges[key] = edge
    return edges


def grid_edge_notes(search: dict[str, Any], configs: dict[int, dict[str, Any]]) -> list[str]:
    """One line per searched hyper-parameter whose numeric grid has at least three values and whose
    selected value (``configs``: seed → the selected trial's config) is the grid's lowest or highest
    for some seed, naming the edge, the value and the seeds."""
    notes = []
    for key, grid in search.items():
        if not isinstance(grid, list) or len(set(grid)) < MIN_GRID:
            continue
        if not all(isinstance(value, Real) and not isinstance(value, bool) for value in grid):
            continue
        chosen = {seed: _flat(config).get(key) for seed, config in configs.items()}
        for edge, value in (("lower", min(grid)), ("upper", max(grid))):
            seeds = sorted(seed for seed, selected in chosen.items() if selected == value)
            if seeds:
                listed = ", ".join(map(str, seeds))
                notes.append(
                    f"{key}={short_number(value)} is the {edge} edge of its grid for seed(s) {listed} "
                    f"of {len(chosen)}: the best value may lie beyond it; widen the grid"
                )
    return notes
