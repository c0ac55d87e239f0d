"""Named grids the papers tune over; sweep files refer to them by name in a stage's ``search``."""

from bdlsweep.search_spaces.registry import GRIDS, grid

__all__ = ["GRIDS", "grid"]
