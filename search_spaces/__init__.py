"""Named grids the papers tune over; sweep files refer to them by name in a stage's ``search``."""

from bdlsweep.search_spaces.ranges import DEFAULT_OPTUNA_SPACES, Range
from bdlsweep.search_spaces.registry import GRIDS, RANGES, grid

__all__ = ["DEFAULT_OPTUNA_SPACES", "GRIDS", "RANGES", "Range", "grid"]
