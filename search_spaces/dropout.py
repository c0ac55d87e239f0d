"""MC dropout rates: Jordahn et al. (2025) select per seed among the rates they trained; digits grid;
a range."""

from bdlsweep.search_spaces.ranges import Range, SearchFamily

DROPOUT_RANGE = Range("uniform", 0.01, 0.5)

FAMILY = SearchFamily(
    grids={"mc_dropout_rates": [0.05, 0.1, 0.2, 0.3, 0.5], "digits_dropout_rates": [0.1, 0.25]},
    ranges={"dropout_range": DROPOUT_RANGE},
    defaults={"mc_dropout": {"dropout": DROPOUT_RANGE}},
)
