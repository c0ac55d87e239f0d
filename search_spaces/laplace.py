"""Prior-precision grids for last-layer Laplace and LA-NF (seed paper)."""

import numpy as np

LLLA_PRIOR_PRECISION_21 = [float(v) for v in np.logspace(-4, 4, 21)]

LANF_PRIOR_PRECISION_15 = [1, 5, 10, 20, 30, 40, 50, 70, 90, 100, 125, 150, 175, 200, 500]

DIGITS_LLLA_PRIOR_PRECISION = [float(v) for v in np.logspace(-1, 3, 5)]

LANF_NUM_TRANSFORMS = [1, 5, 10, 30]

DIGITS_LANF_NUM_TRANSFORMS = [1, 5]

DIGITS_LANF_PRIOR_PRECISION = [1, 10, 100]
