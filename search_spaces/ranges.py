"""The two kinds of search space: grids are plain lists; ranges are sampled by Optuna. A family module
describes its grids, ranges and per-method defaults as one ``SearchFamily``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

RangeKind = Literal["uniform", "loguniform", "randint"]


@dataclass(frozen=True)
class Range:
    """A range to sample from: ``uniform``/``loguniform`` floats or ``randint`` integers in [low, high)."""

    kind: RangeKind
    low: float
    high: float


@dataclass(frozen=True)
class SearchFamily:
    """The search spaces of one family of methods: named grids and ranges that sweep files refer to,
    and each method's default Optuna space (``search: optuna``), setting → range."""

    grids: dict[str, list] = field(default_factory=dict)
    ranges: dict[str, Range] = field(default_factory=dict)
    defaults: dict[str, dict[str, Range]] = field(default_factory=dict)
