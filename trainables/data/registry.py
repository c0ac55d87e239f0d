"""Maps dataset names in sweep files to loaders, and lists the options each loader takes."""

from __future__ import annotations

import inspect
from collections.abc import Callable

from bdlsweep.trainables.data.digits import load_digits
from bdlsweep.trainables.data.regression import load_diabetes, load_gap_1d, load_regression_1d
from bdlsweep.trainables.data.splits import DatasetSplits

DATASETS: dict[str, Callable[..., DatasetSplits]] = {
    "digits": load_digits,
    "diabetes": load_diabetes,
    "gap_1d": load_gap_1d,
    "regression_1d": load_regression_1d,
}

DATASET_LIKELIHOODS: dict[str, str] = {
    "digits": "classification",
    "diabetes": "regression",
    "gap_1d": "regression",
    "regression_1d": "regression",
}


def dataset_options(name: str) -> dict[str, inspect.Parameter]:
    """The options a sweep file may set for dataset ``name`` (the loader's keyword arguments)."""
    return dict(inspect.signature(DATASETS[name], eval_str=True).parameters)


def load_dataset(name: str, options: dict) -> DatasetSplits:
    """Load dataset ``name`` with the sweep file's options."""
    return DATASETS[name](**options)
