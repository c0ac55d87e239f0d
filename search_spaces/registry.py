"""The name → grid or range table that sweep files refer to."""

from __future__ import annotations

from bdlsweep.search_spaces.dropout import DIGITS_DROPOUT_RATES, MC_DROPOUT_RATES
from bdlsweep.search_spaces.laplace import (
    DIGITS_LANF_NUM_TRANSFORMS,
    DIGITS_LANF_PRIOR_PRECISION,
    DIGITS_LLLA_PRIOR_PRECISION,
    LANF_NUM_TRANSFORMS,
    LANF_PRIOR_PRECISION_15,
    LLLA_PRIOR_PRECISION_21,
)
from bdlsweep.search_spaces.ranges import (
    DROPOUT_RANGE,
    LANF_PRIOR_PRECISION_RANGE,
    LLLA_PRIOR_PRECISION_RANGE,
    MAP_LR_RANGE,
    SGMCMC_LR_RANGE,
    SWAG_LR_RANGE,
    Range,
)
from bdlsweep.search_spaces.sgmcmc import DIGITS_SGMCMC_LR, SGMCMC_TEMPERATURES
from bdlsweep.search_spaces.swag import DIGITS_SWAG_LR, SWAG_LR_21, SWAG_LR_QM9_30

GRIDS: dict[str, list] = {
    "swag_lr_21": SWAG_LR_21,
    "swag_lr_qm9_30": SWAG_LR_QM9_30,
    "digits_swag_lr": DIGITS_SWAG_LR,
    "llla_prior_precision_21": LLLA_PRIOR_PRECISION_21,
    "lanf_prior_precision_15": LANF_PRIOR_PRECISION_15,
    "lanf_num_transforms": LANF_NUM_TRANSFORMS,
    "digits_lanf_num_transforms": DIGITS_LANF_NUM_TRANSFORMS,
    "digits_lanf_prior_precision": DIGITS_LANF_PRIOR_PRECISION,
    "digits_llla_prior_precision": DIGITS_LLLA_PRIOR_PRECISION,
    "mc_dropout_rates": MC_DROPOUT_RATES,
    "digits_dropout_rates": DIGITS_DROPOUT_RATES,
    "sgmcmc_temperatures": SGMCMC_TEMPERATURES,
    "digits_sgmcmc_lr": DIGITS_SGMCMC_LR,
}


RANGES: dict[str, Range] = {
    "swag_lr_range": SWAG_LR_RANGE,
    "llla_prior_precision_range": LLLA_PRIOR_PRECISION_RANGE,
    "lanf_prior_precision_range": LANF_PRIOR_PRECISION_RANGE,
    "dropout_range": DROPOUT_RANGE,
    "map_lr_range": MAP_LR_RANGE,
    "sgmcmc_lr_range": SGMCMC_LR_RANGE,
}


def grid(name: str) -> list:
    """A copy of the named grid."""
    return list(GRIDS[name])
