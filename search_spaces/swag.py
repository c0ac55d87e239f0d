"""Constant learning-rate grids for SWA/SWAG (seed paper, and a small one for digits)."""

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

DIGITS_SWAG_LR = [3e-2, 1e-2, 3e-3]
