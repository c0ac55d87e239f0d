"""Maps dataset names in sweep files to loaders, their likelihood, file checks and downloads."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from bdlsweep.storage.locations import Location
from bdlsweep.trainables.data.digits import check_digits_sizes, load_digits
from bdlsweep.trainables.data.files import MissingDataFileError, listing_missing_files
from bdlsweep.trainables.data.image_datasets import (
    download_image_dataset,
    load_cifar10,
    load_cifar100,
    load_fashion_mnist,
    load_mnist,
    locate_image_dataset,
)
from bdlsweep.trainables.data.qm9 import download_qm9, load_qm9, locate_qm9
from bdlsweep.trainables.data.regression import load_diabetes, load_gap_1d, load_regression_1d
from bdlsweep.trainables.data.splits import DatasetSplits
from bdlsweep.trainables.data.text_datasets import (
    load_imdb,
    load_sst2,
    locate_imdb,
    locate_sst2,
    prepare_imdb,
    prepare_sst2,
)
from bdlsweep.trainables.data.uci import load_uci, locate_uci


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset: its loader, likelihood, and (for file-based sets) check and download.

    ``locate(options)`` raises ``MissingDataFileError`` for the first file missing from ``data_dir``
    (or ``DataOptionError`` for an option its files rule out, such as a split they do not hold);
    ``check(options)`` raises ``DataOptionError`` for options beyond a built-in set (sizes);
    ``download(options)`` fetches the files where a library offers that; ``prepare(options, folder)``
    does once per sweep what every trial would otherwise redo (training a tokenizer) and returns
    the options that use it. ``inputs``: what the examples are (``tensor``, token ids ``tokens``, or
    packed ``molecules``); a model must read the same kind. ``input_curve``: the splits carry a 1-D
    input grid (``DatasetSplits.curve``) to draw the predictive over. ``fixed_ood``: the OOD sets the
    loader always builds (image sets add those their ``ood`` option names).
    """

    loader: Callable[..., DatasetSplits]
    likelihood: str
    locate: Callable[[dict[str, Any]], None] | None = None
    download: Callable[[dict[str, Any]], None] | None = None
    prepare: Callable[[dict[str, Any], Location], dict[str, Any]] | None = None
    inputs: str = "tensor"
    input_curve: bool = False
    check: Callable[[dict[str, Any]], None] | None = None
    fixed_ood: tuple[str, ...] = ()


def _image_entry(name: str, loader: Callable[..., DatasetSplits]) -> DatasetEntry:
    return DatasetEntry(
        loader,
        "classification",
        partial(locate_image_dataset, name),
        partial(download_image_dataset, name),
    )


REGISTRY: dict[str, DatasetEntry] = {
    "digits": DatasetEntry(
        load_digits, "classification", check=check_digits_sizes, fixed_ood=("permuted_digits",)
    ),
    "cifar10": _image_entry("cifar10", load_cifar10),
    "cifar100": _image_entry("cifar100", load_cifar100),
    "mnist": _image_entry("mnist", load_mnist),
    "fashion_mnist": _image_entry("fashion_mnist", load_fashion_mnist),
    "diabetes": DatasetEntry(load_diabetes, "regression", fixed_ood=("far_inputs",)),
    "gap_1d": DatasetEntry(load_gap_1d, "regression", input_curve=True, fixed_ood=("gap_and_beyond",)),
    "regression_1d": DatasetEntry(
        load_regression_1d, "regression", input_curve=True, fixed_ood=("far_inputs",)
    ),
    "uci": DatasetEntry(load_uci, "regression", locate_uci, fixed_ood=("far_inputs",)),
    "qm9": DatasetEntry(load_qm9, "regression", locate_qm9, download_qm9, inputs="molecules"),
    "sst2": DatasetEntry(load_sst2, "classification", locate_sst2, prepare=prepare_sst2, inputs="tokens"),
    "imdb": DatasetEntry(load_imdb, "classification", locate_imdb, prepare=prepare_imdb, inputs="tokens"),
}
DATASETS: dict[str, Callable[..., DatasetSplits]] = {name: entry.loader for name, entry in REGISTRY.items()}
DATASET_LIKELIHOODS: dict[str, str] = {name: entry.likelihood for name, entry in REGISTRY.items()}


@functools.cache
def _signature(loader: Callable) -> inspect.Signature:
    """A loader's signature, annotations evaluated (read once: a suite checks it for every cell)."""
    return inspect.signature(loader, eval_str=True)


def dataset_options(name: str) -> dict[str, inspect.Parameter]:
    """The options a sweep file may set for dataset ``name`` (the loader's keyword arguments)."""
    return dict(_signature(DATASETS[name]).parameters)


def complete_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the loader's defaults filled in for every option not given."""
    bound = _signature(DATASETS[name]).bind(**options)
    bound.apply_defaults()
    return dict(bound.arguments)


def ood_set_names(name: str, options: dict[str, Any]) -> list[str]:
    """The OOD sets dataset ``name`` builds with ``options``, known without reading its files."""
    return [*REGISTRY[name].fixed_ood, *complete_options(name, options).get("ood", ())]


def check_dataset(name: str, options: dict[str, Any]) -> None:
    """Raise ``DataOptionError`` if an option of built-in dataset ``name`` lies beyond the set."""
    entry = REGISTRY[name]
    if entry.check is not None:
        entry.check(complete_options(name, options))


def locate_dataset(name: str, options: dict[str, Any]) -> None:
    """Raise ``MissingDataFileError`` if a file dataset ``name`` needs is not in its ``data_dir``."""
    entry = REGISTRY[name]
    if entry.locate is not None:
        entry.locate(complete_options(name, options))


def missing_data_files(name: str, options: dict[str, Any]) -> list[MissingDataFileError]:
    """Every file dataset ``name`` reads with ``options`` that is not in its ``data_dir`` (empty when all
    are there)."""
    with listing_missing_files() as missing:
        locate_dataset(name, options)
    return missing


def download_dataset(name: str, options: dict[str, Any]) -> None:
    """Fetch dataset ``name`` into its ``data_dir`` when its options say ``download: true``."""
    entry = REGISTRY[name]
    if entry.download is not None and options.get("download", False):
        entry.download(complete_options(name, options))


def prepare_dataset(name: str, options: dict[str, Any], folder: Location) -> dict[str, Any]:
    """Options for the trials after the dataset's once-per-sweep preparation (saved under ``folder``)."""
    entry = REGISTRY[name]
    if entry.prepare is None:
        return options
    complete = complete_options(name, options)
    prepared = entry.prepare(complete, folder)
    return {**options, **{key: value for key, value in prepared.items() if complete.get(key) != value}}


def load_dataset(name: str, options: dict) -> DatasetSplits:
    """Load dataset ``name`` with the sweep file's options."""
    return DATASETS[name](**options)
