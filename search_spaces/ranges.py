"""Continuous and integer ranges for model-based search (Optuna); grids are plain lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RangeKind = Literal["uniform", "loguniform", "randint"]


@dataclass(frozen=True)
class Range:
    """A range to sample from: ``uniform``/``loguniform`` floats or ``randint`` integers in [low, high)."""

    kind: RangeKind
    low: float
    high: float


SWAG_LR_RANGE = Range("loguniform", 1e-4, 1e-1)
LLLA_PRIOR_PRECISION_RANGE = Range("loguniform", 1e-4, 1e4)
LANF_PRIOR_PRECISION_RANGE = Range("loguniform", 1.0, 500.0)
DROPOUT_RANGE = Range("uniform", 0.01, 0.5)
MAP_LR_RANGE = Range("loguniform", 1e-3, 0.3)
SGMCMC_LR_RANGE = Range("loguniform", 1e-7, 1e-4)
PRIOR_VARIANCE_RANGE = Range("loguniform", 1e-3, 10.0)

DEFAULT_OPTUNA_SPACES: dict[str, dict[str, Range]] = {
    "map": {"optimizer.lr": MAP_LR_RANGE},
    "swag": {"lr": SWAG_LR_RANGE},
    "llla": {"prior_precision": LLLA_PRIOR_PRECISION_RANGE},
    "laplace_nf": {"prior_precision": LANF_PRIOR_PRECISION_RANGE},
    "mc_dropout": {"dropout": DROPOUT_RANGE},
    "sgmcmc": {"lr": SGMCMC_LR_RANGE},
    "vi": {"prior_variance": PRIOR_VARIANCE_RANGE},
}
