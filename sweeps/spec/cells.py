"""A sweep's dataset and model (one pair per suite cell) checked against their registries, their
options, the data files and each other, and against what each stage's method supports."""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError, create_model

from bdlsweep.sweeps.reading.errors import SpecError, close_match, from_validation_error, shown
from bdlsweep.sweeps.reading.name_checks import registry_name
from bdlsweep.sweeps.reading.suite_cells import CellSource
from bdlsweep.sweeps.spec.models import Cell, SweepFile
from bdlsweep.trainables.data import DATASET_LIKELIHOODS, DATASETS, dataset_options
from bdlsweep.trainables.data.files import (
    DataOptionError,
    MalformedDataFileError,
    MissingDataFileError,
    describe_missing,
)
from bdlsweep.trainables.data.registry import REGISTRY as DATASET_REGISTRY
from bdlsweep.trainables.data.registry import check_dataset, missing_data_files
from bdlsweep.trainables.models import MODELS, model_options
from bdlsweep.trainables.models.registry import model_inputs
from bdlsweep.trainables.registry import METHODS
from bdlsweep.trainables.settings import StrictModel


def validate_cell(
    source: str,
    top: SweepFile,
    cell: CellSource,
    in_suite: bool,
    missing_data: list[MissingDataFileError] | None = None,
) -> Cell:
    """One cell's dataset and model checked against their registries, options and files (``data_dir``
    from the top level applied; in a suite, to the datasets that read files), and against each other;
    ``missing_data`` collects missing files instead of stopping at them (see ``_check_data_files``)."""
    dataset_raw = dict(cell.dataset)
    if top.data_dir is not None:
        named = registry_name(source, "dataset.name", dataset_raw.get("name"))
        takes_files = "data_dir" in dataset_options(named) if named in DATASETS else True
        if not takes_files and not in_suite:
            raise SpecError(source, "data_dir", f"dataset {shown(named)} reads no files")
        if takes_files:
            dataset_raw["data_dir"] = top.data_dir
    dataset, data_options = _validate_component(source, "dataset", dataset_raw, DATASETS, dataset_options)
    try:
        data_options = _check_data_files(source, dataset, data_options, missing_data)
    except OSError as error:
        raise SpecError(source, "dataset.data_dir", f"not a usable folder: {error.strerror}") from None
    model, net_options = _validate_component(source, "model", cell.model, MODELS, model_options)
    _check_input_kind(source, dataset, model)
    return Cell(
        name=cell.name,
        dataset=dataset,
        dataset_options=data_options,
        model=model,
        model_options=net_options,
        axes=cell.axes,
        settings=cell.settings.as_record(),
    )


def _options_model(name: str, parameters: dict[str, inspect.Parameter]) -> type[BaseModel]:
    """A strict model of a dataset's or model's keyword options: their annotations and defaults."""
    fields = {
        key: (
            Any if p.annotation is inspect.Parameter.empty else p.annotation,
            ... if p.default is inspect.Parameter.empty else p.default,
        )
        for key, p in parameters.items()
    }
    return create_model(name, __base__=StrictModel, **fields)


@functools.cache
def _component_model(name: str, options_of) -> type[BaseModel]:
    """The options model of a registered dataset or model ``name`` (built once per process: a suite
    validates the same dataset's options once per cell)."""
    return _options_model(f"{name}_options", options_of(name))


def _validate_component(
    source: str, key: str, raw: dict[str, Any], registry: dict, options_of
) -> tuple[str, dict[str, Any]]:
    """Check a ``{name: ..., option: ...}`` mapping against a registry and the options it takes."""
    options = dict(raw)
    name = registry_name(source, f"{key}.name", options.pop("name", None))
    if name not in registry:
        hint = close_match(name, registry)
        raise SpecError(
            source, f"{key}.name", f"unknown {key} {shown(name)}{hint}; known: {', '.join(registry)}"
        )
    parameters = options_of(name)
    for option in options:
        if option not in parameters:
            hint = close_match(option, parameters)
            raise SpecError(source, f"{key}.{option}", f"unknown option of {key} {shown(name)}{hint}")
    model = _component_model(name, options_of)
    try:
        model.model_validate(options)
    except ValidationError as error:
        raise from_validation_error(source, error, model, prefix=(key,)) from None
    return name, options


def _check_data_files(
    source: str, dataset: str, options: dict[str, Any], missing_data: list[MissingDataFileError] | None
) -> dict[str, Any]:
    """``options`` with ``data_dir`` made absolute (trials run elsewhere); its files must be there: one
    error names every missing file, or with ``missing_data`` (a plan without the data) they are listed
    there and the sweep is read on.

    With ``download: true`` missing files are fetched by the pipeline instead, before any trial.
    """
    try:
        check_dataset(dataset, options)
        if "data_dir" not in options:
            return options
        options = {**options, "data_dir": str(Path(options["data_dir"]).expanduser().resolve())}
        missing = [] if options.get("download", False) else missing_data_files(dataset, options)
        if missing and missing_data is None:
            raise SpecError(source, "dataset.data_dir", describe_missing(missing))
        if missing_data is not None:
            missing_data.extend(missing)
    except (MissingDataFileError, MalformedDataFileError) as error:
        raise SpecError(source, "dataset.data_dir", str(error)) from None
    except DataOptionError as error:
        raise SpecError(source, f"dataset.{error.option}", str(error)) from None
    return options


def _check_input_kind(source: str, dataset: str, model: str) -> None:
    """The model must read what the dataset gives: feature/image tensors, token ids or molecules."""
    given, read = DATASET_REGISTRY[dataset].inputs, model_inputs(model)
    if given != read:
        fitting = [name for name in MODELS if model_inputs(name) == given]
        raise SpecError(
            source,
            "model.name",
            f"{model} reads {read} but dataset {dataset} gives {given}; use {', '.join(fitting)}",
        )


def check_stage_methods(source: str, stages: dict[str, Any], cell: Cell) -> None:
    """Each stage's method must support the cell's likelihood and model."""
    for name, raw_stage in stages.items():
        named = raw_stage.get("method") if isinstance(raw_stage, dict) else None
        method = METHODS.get(named) if isinstance(named, str) else None
        likelihood = DATASET_LIKELIHOODS[cell.dataset]
        if method is not None and likelihood not in method.likelihoods:
            raise SpecError(
                source,
                f"stages.{name}.method",
                f"{method.name} does not support {likelihood} data (dataset {cell.dataset!r})",
            )
        if method is not None and method.models and cell.model not in method.models:
            raise SpecError(
                source,
                f"stages.{name}.method",
                f"{method.name} needs the model {' or '.join(method.models)} (the sweep's is {cell.model!r})",
            )
