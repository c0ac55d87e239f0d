"""Subspace inference: the likelihood temperature (the subspace paper divides by 5000 on CIFAR-100)."""

from bdlsweep.search_spaces.ranges import Range, SearchFamily

LIKELIHOOD_TEMPERATURE_RANGE = Range("loguniform", 1.0, 1e4)

FAMILY = SearchFamily(
    ranges={"likelihood_temperature_range": LIKELIHOOD_TEMPERATURE_RANGE},
    defaults={"subspace": {"likelihood_temperature": LIKELIHOOD_TEMPERATURE_RANGE}},
)
