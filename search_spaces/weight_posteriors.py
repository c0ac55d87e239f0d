"""Posteriors over all weights under a Gaussian prior (mean-field VI, full-batch HMC): prior variance and
temperature (bnn_hmc's cold-posterior study spans T from 1 down to 0.01)."""

from bdlsweep.search_spaces.ranges import Range, SearchFamily

PRIOR_VARIANCE_RANGE = Range("loguniform", 1e-3, 10.0)
TEMPERATURE_RANGE = Range("loguniform", 1e-2, 1.0)

FAMILY = SearchFamily(
    ranges={"prior_variance_range": PRIOR_VARIANCE_RANGE, "temperature_range": TEMPERATURE_RANGE},
    defaults={"vi": {"prior_variance": PRIOR_VARIANCE_RANGE}, "hmc": {"temperature": TEMPERATURE_RANGE}},
)
