"""Named grids and ranges the papers tune over, one module per family of methods; sweep files refer to
them by name in a stage's ``search``, and ``search: optuna`` takes a method's default space."""

from bdlsweep.search_spaces.ranges import Range
from bdlsweep.search_spaces.registry import DEFAULT_OPTUNA_SPACES, GRIDS, RANGES, grid

__all__ = ["DEFAULT_OPTUNA_SPACES", "GRIDS", "RANGES", "Range", "grid"]
