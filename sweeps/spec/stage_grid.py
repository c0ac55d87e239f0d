"""A stage's grid read from the sweep file alone: each point's method settings and the number of trials,
which planning, cost and the parent checks need before any Tuner exists."""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any

from bdlsweep.sweeps.spec.models import StageSpec


def nested(key: str, value: Any) -> dict[str, Any]:
    """``a.b.c`` and a value as the nested mapping ``{a: {b: {c: value}}}``."""
    head, _, rest = key.partition(".")
    return {head: nested(rest, value) if rest else value}


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` laid over it, nested mappings merged key by key."""
    result = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def grid_settings(stage: StageSpec) -> list[Any]:
    """The method settings of each point of a grid stage's search (one for a stage without search; for a
    searcher stage, its settings with the searched keys left at their values in the sweep file)."""
    fixed = stage.settings.model_dump()
    if stage.searcher is not None or not stage.search:
        return [stage.settings]
    keys = list(stage.search)
    points = itertools.product(*(stage.search[key] for key in keys))
    configs = [
        functools.reduce(merged, (nested(k, v) for k, v in zip(keys, point, strict=True)), fixed)
        for point in points
    ]
    return [stage.method_info.settings.from_config(config) for config in configs]


def trial_count(stage: StageSpec, seeds: list[int], cells: int = 1) -> int:
    """Number of trials of a stage: (cells ×) seeds × grid size, or seeds × samples per search."""
    if stage.searcher is not None:
        return cells * len(seeds) * stage.searcher.num_samples
    return cells * len(seeds) * math.prod(len(values) for values in stage.search.values())
