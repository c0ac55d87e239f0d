"""SWA/SWAG learning rates: the constant-rate grids of Jordahn et al. (2025), a small
one for digits, and a range."""

from bdlsweep.search_spaces.ranges import Range, SearchFamily

SWAG_LR_21 = [
    1e-1, 5e-2, 4e-2, 3e-2, 2e-2, 1e-2, 9e-3, 8e-3, 7e-3, 6e-3, 5e-3,
    4e-3, 3e-3, 2e-3, 1e-3, 9e-4, 8e-4, 7e-4, 6e-4, 5e-4, 1e-4,
]  # fmt: skip

SWAG_LR_QM9_30 = (
    [1e-6, 5e-7, 4e-7, 3e-7, 2e-7, 1e-7]
    + [round(k * 1e-8, 10) for k in range(9, 0, -1)]
    + [round(k * 1e-9, 11) for k in range(9, 0, -1)]
    + [9e-10, 8e-10, 7e-10, 6e-10, 5e-10, 1e-10]
)

SWAG_LR_RANGE = Range("loguniform", 1e-4, 1e-1)

FAMILY = SearchFamily(
    grids={"swag_lr_21": SWAG_LR_21, "swag_lr_qm9_30": SWAG_LR_QM9_30, "digits_swag_lr": [3e-2, 1e-2, 3e-3]},
    ranges={"swag_lr_range": SWAG_LR_RANGE},
    defaults={"swag": {"lr": SWAG_LR_RANGE}},
)
