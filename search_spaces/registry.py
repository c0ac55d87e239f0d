"""Gathers every family's search spaces into the tables sweep files refer to; names are unique."""

from __future__ import annotations

from bdlsweep.search_spaces import (
    dropout,
    laplace,
    network_training,
    sgmcmc,
    subspace,
    swag,
    weight_posteriors,
)
from bdlsweep.search_spaces.ranges import Range, SearchFamily

FAMILY_MODULES = (network_training, swag, laplace, dropout, sgmcmc, weight_posteriors, subspace)
FAMILIES: tuple[SearchFamily, ...] = tuple(module.FAMILY for module in FAMILY_MODULES)


def _gathered(tables: list[dict]) -> dict:
    merged: dict = {}
    for table in tables:
        repeated = merged.keys() & table.keys()
        if repeated:
            raise ValueError(f"search spaces named twice: {sorted(repeated)}")
        merged.update(table)
    return merged


GRIDS: dict[str, list] = _gathered([family.grids for family in FAMILIES])
RANGES: dict[str, Range] = _gathered([family.ranges for family in FAMILIES])
DEFAULT_OPTUNA_SPACES: dict[str, dict[str, Range]] = _gathered([family.defaults for family in FAMILIES])


def grid(name: str) -> list:
    """A copy of the named grid."""
    return list(GRIDS[name])
