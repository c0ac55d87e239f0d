"""Checks of ``evaluate.reference``: a method the sweep evaluates, or a file of predictions that fits the
dataset's test set."""

from __future__ import annotations

from pathlib import Path

from bdlsweep.metrics.reference_agreement import ReferencePredictive
from bdlsweep.sweeps.reading.errors import SpecError, shown
from bdlsweep.sweeps.reading.reference_files import is_reference_file, read_reference_file
from bdlsweep.sweeps.spec.models import EvaluateSpec

KEY = "evaluate.reference"
KINDS = {"probs": "classification", "mean": "regression"}


def check_reference(
    source: str, folder: Path, evaluate: EvaluateSpec, cells: int, likelihoods: set[str]
) -> Path | None:
    """The reference file's path (None for a method); ``SpecError`` when the reference is neither one of
    ``evaluate.methods`` nor a readable file of predictions of the dataset's kind."""
    reference = evaluate.reference
    if reference is None:
        return None
    if "test" not in evaluate.splits:
        raise SpecError(source, KEY, "is measured on the test set: add test to evaluate.splits")
    if not is_reference_file(reference):
        if reference not in evaluate.methods:
            methods = ", ".join(evaluate.methods)
            problem = (
                f"{shown(reference)} is neither one of evaluate.methods ({methods}) nor a .csv or .npz file"
            )
            raise SpecError(source, KEY, problem)
        return None
    if cells > 1:
        problem = f"a file covers one test set and this suite has {cells} cells: name one of evaluate.methods"
        raise SpecError(source, KEY, problem)
    path = (folder / reference).resolve()
    if not path.is_file():
        raise SpecError(source, KEY, f"file not found: {path}")
    try:
        found = read_reference_file(path)
    except ValueError as error:
        raise SpecError(source, KEY, f"{path.name}: {error}") from None
    kind = next(KINDS[key] for key in KINDS if key in found.arrays)
    if kind not in likelihoods:
        held = "class probabilities" if kind == "classification" else "Gaussian means and variances"
        raise SpecError(
            source, KEY, f"{path.name} holds {held}, but the dataset is a {likelihoods.pop()} set"
        )
    return path


def fitted_reference(source: str, path: Path, test_size: int, width: int) -> ReferencePredictive:
    """The reference file's predictions, checked against a test set of ``test_size`` points and ``width``
    classes (or target dimensions); ``SpecError`` naming the first misfit."""
    found = read_reference_file(path)
    rows, columns = next(iter(found.arrays.values())).shape
    what = "classes" if "probs" in found.arrays else "target dimensions"
    if columns != width:
        raise SpecError(source, KEY, f"{path.name}: {columns} {what}, but the test set has {width}")
    if found.indices is None and rows != test_size:
        problem = f"{path.name}: {rows} rows, but the test set has {test_size} points (give indices)"
        raise SpecError(source, KEY, problem)
    if found.indices is not None and found.indices.max() >= test_size:
        problem = f"{path.name}: index {found.indices.max()} is past the test set's {test_size} points"
        raise SpecError(source, KEY, problem)
    return found
