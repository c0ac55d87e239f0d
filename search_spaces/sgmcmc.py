"""Grids for SGMCMC: posterior temperatures of bnn_hmc's cold-posterior study, and digits step sizes."""

SGMCMC_TEMPERATURES = [1.0, 0.3, 0.1, 0.03]

DIGITS_SGMCMC_LR = [3e-5, 1e-4]
