"""Reading a sweep's dataset on the driver, where a file in the wrong format is a one-line error
about ``dataset.data_dir`` instead of the same traceback in every trial."""

from __future__ import annotations

from typing import Any

from bdlsweep.sweeps.reading.errors import SpecError
from bdlsweep.sweeps.spec.models import SweepSpec
from bdlsweep.trainables.data import DatasetSplits, load_dataset
from bdlsweep.trainables.data.files import (
    DataOptionError,
    MalformedDataFileError,
    MissingDataFileError,
    described,
)

DATA_KEY = "dataset.data_dir"


def read_dataset(source: str, key: str, dataset: str, options: dict[str, Any]) -> DatasetSplits:
    """Dataset ``dataset`` loaded with ``options``; ``SpecError`` at ``key`` if its files cannot be read
    (or at ``dataset.<option>`` for an option its files rule out)."""
    try:
        return load_dataset(dataset, options)
    except MissingDataFileError as error:
        raise SpecError(source, key, str(error)) from None
    except DataOptionError as error:
        raise SpecError(source, f"dataset.{error.option}", str(error)) from None
    except Exception as error:
        raise _unreadable(source, key, f"dataset {dataset}", options, error) from None


def check_data_readable(spec: SweepSpec) -> None:
    """Read every file dataset of the sweep (each cell's splits and OOD sets) before anything starts.

    Datasets that ``download: true`` fetches are read by the trials, after the download. Shifted sets
    read from files (CIFAR-10-C) are checked by their headers when the sweep file is read: reading
    them all here would read gigabytes.
    """
    for cell in spec.cell_specs():
        options = cell.dataset_options
        if "data_dir" not in options or options.get("download", False):
            continue
        splits = read_dataset(spec.source, DATA_KEY, cell.dataset, options)
        for name in splits.ood:
            try:
                splits.ood[name]
            except Exception as error:
                what = f"dataset {cell.dataset}, OOD set {name}"
                raise _unreadable(spec.source, DATA_KEY, what, options, error) from None


def _unreadable(source: str, key: str, what: str, options: dict[str, Any], error: Exception) -> SpecError:
    """The one-line error for a reader's exception: the file and its problem when the reader named
    them (``MalformedDataFileError``), else the exception's kind and first line."""
    if isinstance(error, MalformedDataFileError):
        return SpecError(source, key, f"{what}: {error}")
    where = f" in {options['data_dir']}" if "data_dir" in options else ""
    return SpecError(source, key, f"{what}: reading its files{where} failed: {described(error)}")
