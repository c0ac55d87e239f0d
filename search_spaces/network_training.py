"""Networks trained by (regularised) maximum likelihood, alone or packed: the learning-rate range."""

from bdlsweep.search_spaces.ranges import Range, SearchFamily

MAP_LR_RANGE = Range("loguniform", 1e-3, 0.3)

FAMILY = SearchFamily(
    ranges={"map_lr_range": MAP_LR_RANGE},
    defaults={"map": {"optimizer.lr": MAP_LR_RANGE}, "packed": {"optimizer.lr": MAP_LR_RANGE}},
)
