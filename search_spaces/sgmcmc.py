"""SGMCMC: bnn_hmc's cold-posterior temperatures, digits step sizes, and a step-size range."""

from bdlsweep.search_spaces.ranges import Range, SearchFamily

SGMCMC_LR_RANGE = Range("loguniform", 1e-7, 1e-4)

FAMILY = SearchFamily(
    grids={"sgmcmc_temperatures": [1.0, 0.3, 0.1, 0.03], "digits_sgmcmc_lr": [3e-5, 1e-4]},
    ranges={"sgmcmc_lr_range": SGMCMC_LR_RANGE},
    defaults={"sgmcmc": {"lr": SGMCMC_LR_RANGE}},
)
