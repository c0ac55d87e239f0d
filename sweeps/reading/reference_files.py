"""Reading a file of reference predictions (``evaluate.reference``): the NeurIPS 2021 approximate-inference
competition's ``.csv`` of class probabilities, or an ``.npz`` of probabilities or Gaussian moments."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from bdlsweep.metrics.reference_agreement import ReferencePredictive

SUFFIXES = (".csv", ".npz")
ROW_SUM_TOLERANCE = 1e-3


def is_reference_file(reference: str) -> bool:
    """Whether ``evaluate.reference`` names a file (by its suffix) rather than a method."""
    return Path(reference).suffix.lower() in SUFFIXES


def read_reference_file(path: Path) -> ReferencePredictive:
    """The predictions of ``path``; ``ValueError`` naming what is wrong with them.

    ``.csv``: one row per test point in the test set's order, one column per class, no header (the
    competition's ``probs.csv``). ``.npz``: ``probs`` ``[N, C]``, or ``mean`` and ``var`` ``[N, D]``
    in the data's units; optionally ``indices`` ``[N]``, the test points the rows are for.
    """
    if path.suffix.lower() == ".csv":
        try:
            probs = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)
        except ValueError as error:
            raise ValueError(f"not a table of numbers ({str(error).splitlines()[0]})") from None
        return ReferencePredictive(path.name, {"probs": _probabilities(probs, "rows")})
    arrays = _archive(path)
    if "probs" in arrays:
        found = {"probs": _probabilities(arrays["probs"].astype(np.float64), "probs")}
    elif {"mean", "var"} <= set(arrays):
        found = _moments(arrays["mean"].astype(np.float64), arrays["var"].astype(np.float64))
    else:
        raise ValueError(f"holds {sorted(arrays) or 'nothing'}; needs probs, or mean and var")
    indices = arrays.get("indices")
    if indices is not None:
        indices = _indices(indices, len(next(iter(found.values()))))
    return ReferencePredictive(path.name, found, indices)


def _archive(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` archive by name."""
    try:
        stored = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"not a readable .npz archive ({type(error).__name__}: {error})") from None
    if not isinstance(stored, np.lib.npyio.NpzFile):
        raise ValueError("not an .npz archive of named arrays (numpy.savez writes one)")
    with stored:
        return {key: np.asarray(stored[key]) for key in stored.files}


def _probabilities(probs: np.ndarray, name: str) -> np.ndarray:
    if probs.ndim != 2 or probs.shape[1] < 2 or len(probs) == 0:
        raise ValueError(
            f"{name}: needs one row per test point and a column per class (got shape {probs.shape})"
        )
    if not np.isfinite(probs).all() or (probs < 0).any():
        raise ValueError(f"{name}: probabilities must be finite and ≥ 0")
    sums = probs.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1) > ROW_SUM_TOLERANCE)
    if len(bad):
        raise ValueError(f"{name}: row {bad[0] + 1} sums to {sums[bad[0]]:.4g}, not 1")
    return probs


def _moments(mean: np.ndarray, var: np.ndarray) -> dict[str, np.ndarray]:
    if mean.ndim == 1 and var.ndim == 1:  # one target dimension
        mean, var = mean[:, None], var[:, None]
    if mean.ndim != 2 or mean.shape != var.shape or len(mean) == 0:
        raise ValueError(f"mean {mean.shape} and var {var.shape} must both be [N, D]")
    if not (np.isfinite(mean).all() and np.isfinite(var).all()) or (var <= 0).any():
        raise ValueError("mean must be finite and var finite and > 0")
    return {"mean": mean, "var": var}


def _indices(indices: np.ndarray, rows: int) -> np.ndarray:
    if indices.ndim != 1 or len(indices) != rows or not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"indices: needs one integer per row ({rows}), got {indices.dtype} {indices.shape}")
    if (indices < 0).any() or len(np.unique(indices)) != rows:
        raise ValueError("indices: must be distinct test-point positions ≥ 0")
    return indices.astype(np.int64)
