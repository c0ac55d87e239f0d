"""Last-layer Laplace and LA-NF: prior precisions and flow lengths of Jordahn et al.
(2025), digits grids, ranges."""

import numpy as np

from bdlsweep.search_spaces.ranges import Range, SearchFamily

LLLA_PRIOR_PRECISION_RANGE = Range("loguniform", 1e-4, 1e4)
LANF_PRIOR_PRECISION_RANGE = Range("loguniform", 1.0, 500.0)

FAMILY = SearchFamily(
    grids={
        "llla_prior_precision_21": [float(v) for v in np.logspace(-4, 4, 21)],
        "lanf_prior_precision_15": [1, 5, 10, 20, 30, 40, 50, 70, 90, 100, 125, 150, 175, 200, 500],
        "lanf_num_transforms": [1, 5, 10, 30],
        "digits_llla_prior_precision": [float(v) for v in np.logspace(-1, 3, 5)],
        "digits_lanf_num_transforms": [1, 5],
        "digits_lanf_prior_precision": [1, 10, 100],
    },
    ranges={
        "llla_prior_precision_range": LLLA_PRIOR_PRECISION_RANGE,
        "lanf_prior_precision_range": LANF_PRIOR_PRECISION_RANGE,
    },
    defaults={
        "llla": {"prior_precision": LLLA_PRIOR_PRECISION_RANGE},
        "laplace_nf": {"prior_precision": LANF_PRIOR_PRECISION_RANGE},
    },
)
