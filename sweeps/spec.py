"""The sweep file: YAML read safely, overrides applied, validated into a typed ``SweepSpec``.

Every problem is a ``SpecError`` naming the file, the key path and what is wrong, raised before
Ray starts or anything is written.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    computed_field,
    create_model,
    field_serializer,
)

from bdlsweep.analysis.tables import SPLIT_OPTIONS, group_name
from bdlsweep.search_spaces import Range
from bdlsweep.search_spaces.ranges import RangeKind
from bdlsweep.storage.layout import SweepLayout
from bdlsweep.storage.locations import Location
from bdlsweep.sweeps.ensemble_plan import members_of, read_ensemble_file
from bdlsweep.sweeps.errors import SpecError, close_match, from_validation_error, key_path, kind_of, shown
from bdlsweep.sweeps.name_checks import check_experiment, check_name, check_storage
from bdlsweep.sweeps.overrides import apply_overrides, blamed_override
from bdlsweep.sweeps.search_resolution import resolve_search
from bdlsweep.sweeps.step_budget import BUDGETED, takes_steps, training_set_size, with_epochs
from bdlsweep.sweeps.suite_cells import CellSource, expand_cells
from bdlsweep.trainables.data import DATASET_LIKELIHOODS, DATASETS, dataset_options
from bdlsweep.trainables.data.files import DataOptionError, MissingDataFileError
from bdlsweep.trainables.data.registry import REGISTRY as DATASET_REGISTRY
from bdlsweep.trainables.data.registry import check_dataset, complete_options, locate_dataset
from bdlsweep.trainables.method import Method
from bdlsweep.trainables.models import MODELS, model_options
from bdlsweep.trainables.models.registry import model_inputs
from bdlsweep.trainables.registry import METHODS
from bdlsweep.trainables.settings import MethodSettings, StrictModel

SPLITS = ("test", "shift", "ood")
MAX_SEEDS = 10_000
MAX_ENSEMBLES_PER_SIZE = 10_000
MAX_POSTERIOR_SAMPLES = 100_000  # the papers use 100-200; the map step keeps [samples, N, C] per set
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's safe loader when built with it


class Resources(StrictModel):
    """Per-trial (or per-actor) resources; fractional GPUs pack several trials on one GPU."""

    cpu: float = Field(1.0, gt=0)
    gpu: float = Field(0.0, ge=0)
    custom: dict[str, float] = Field(default_factory=dict)

    def as_tune(self) -> dict[str, float]:
        """The mapping ``tune.with_resources`` takes."""
        return {"cpu": self.cpu, "gpu": self.gpu, **self.custom}


class MLflowSpec(StrictModel):
    """Where trials are recorded; no tracking URI means a SQLite file inside the storage folder."""

    tracking_uri: str | None = None
    experiment: str | None = None


class RaySpec(StrictModel):
    """Which Ray cluster to use: ``address`` None starts a local one (``auto`` joins a running one)."""

    address: str | None = None
    num_cpus: int | None = Field(None, gt=0)


class SelectionSpec(StrictModel):
    """How per-seed selection treats a posterior worse on validation than the model it starts from:
    flagged by default; with ``require_better_than_parent`` its stage fails instead."""

    require_better_than_parent: bool = False


class EvaluateSpec(StrictModel):
    """How the selected members are combined into ensembles and scored.

    ``predictive_plot: K`` (1-D regression sets) also draws each method's predictive mean ± 2 std
    over x for the ensemble of the first K seeds.
    """

    methods: list[str] = Field(min_length=1)
    ensemble_sizes: list[int] = Field(default_factory=lambda: [1], min_length=1)
    ensembles_per_size: int = Field(10, gt=0, le=MAX_ENSEMBLES_PER_SIZE)
    ensemble_file: str | None = None
    num_posterior_samples: int = Field(100, gt=0, le=MAX_POSTERIOR_SAMPLES)
    subsample_sizes: list[int] = Field(default_factory=list)
    stratified: bool = True
    splits: list[Literal["test", "shift", "ood"]] = Field(default_factory=lambda: list(SPLITS))
    seed: int = 0
    resources: Resources = Field(default_factory=Resources)
    predictive_plot: int | None = Field(None, gt=0)

    def task_settings(self) -> dict[str, Any]:
        """The settings the evaluation's map and reduce tasks read (and its skip record compares)."""
        return self.model_dump(exclude={"resources", "methods", "ensemble_file"})


class SweepFile(StrictModel):
    """The top level of a sweep file; stages, dataset and model options are checked separately.

    ``data_dir`` (usually given on the command line, ``data_dir=/data``) sets ``dataset.data_dir``.
    ``suite`` lists (dataset, model) pairs to run side by side (see ``suite_cells``).
    """

    name: str = Field(min_length=1)
    data_dir: str | None = None
    dataset: dict[str, Any] | None = None
    model: dict[str, Any] | None = None
    suite: list[Any] | None = None
    seeds: list[int] = Field(min_length=1, max_length=MAX_SEEDS)
    storage: str | None = None
    mlflow: MLflowSpec = Field(default_factory=MLflowSpec)
    ray: RaySpec = Field(default_factory=RaySpec)
    stages: dict[str, dict[str, Any]] = Field(min_length=1)
    selection: SelectionSpec = Field(default_factory=SelectionSpec)
    evaluate: EvaluateSpec


class SearcherSpec(StrictModel):
    """Model-based search (Optuna TPE through Ray Tune's OptunaSearch), run per seed."""

    name: Literal["optuna"] = "optuna"
    num_samples: int = Field(16, gt=0)
    max_concurrent: int = Field(2, gt=0)
    seed: int = 0


class SchedulerSpec(StrictModel):
    """Early stopping of a stage's trials with Ray Tune's ASHAScheduler, per seed: at each rung
    (``grace_epochs`` × ``reduction_factor``^k steps) a trial below the top 1/``reduction_factor`` of
    its seed's trials there by ``metric`` (higher is better) stops. A stopped trial is never selected."""

    name: Literal["asha"] = "asha"
    grace_epochs: int = Field(1, gt=0)
    reduction_factor: float = Field(3.0, gt=1)
    metric: str = Field("val_elpd", min_length=1)


class StageFields(StrictModel):
    """Keys every stage has, whatever its method."""

    method: str
    parent: str | None = Field(None, alias="from")
    search: Literal["optuna"] | dict[str, str | list[Any] | dict[RangeKind, list[float]]] = Field(
        default_factory=dict
    )
    searcher: SearcherSpec | None = None
    scheduler: SchedulerSpec | None = None
    resources: Resources = Field(default_factory=Resources)
    max_failures: int = Field(2, ge=0)
    steps: int | None = Field(None, gt=0)
    refit: bool = False


class StageSpec(BaseModel):
    """One validated stage: its method's settings plus the resolved grids or ranges.

    With a ``searcher`` the stage runs one Optuna search per seed over ``search`` (ranges, and
    lists as categorical choices); without one, a grid over ``search`` crossed with the seeds. With a
    ``scheduler`` each seed's trials run in a Tuner of their own, stopped early by ASHA. ``steps``,
    when the sweep file gave the training length in optimiser steps, is that budget; the settings'
    ``epochs`` then hold the whole epochs of the training set that make it. With ``refit`` each
    selected configuration is trained again on train + validation, and evaluation uses that model.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    name: str
    method: str
    parent: str | None
    search: dict[str, list[Any] | Range]
    searcher: SearcherSpec | None
    scheduler: SchedulerSpec | None = None
    resources: Resources
    max_failures: int
    settings: SerializeAsAny[MethodSettings]
    steps: int | None = None
    refit: bool = False

    @property
    def method_info(self) -> Method:
        """The registered method this stage runs."""
        return METHODS[self.method]


class Cell(BaseModel):
    """One (dataset, model) of a suite, validated; ``axes`` are the suite values that name it."""

    model_config = ConfigDict(frozen=True)

    name: str
    dataset: str
    dataset_options: dict[str, Any]
    model: str
    model_options: dict[str, Any]
    axes: dict[str, Any] = Field(default_factory=dict)

    @computed_field
    @property
    def table_group(self) -> str:
        """The suite table's column group of this cell: dataset, the options that tell its set apart
        (not its split: a group's value is the mean ± s.e. over its splits), model; kept in the record."""
        options = complete_options(self.dataset, self.dataset_options)
        shared = {key: value for key, value in options.items() if key not in SPLIT_OPTIONS}
        return group_name(self.dataset, shared, self.model)


class SweepSpec(BaseModel):
    """A validated sweep: everything the pipeline needs, with absolute paths (storage may be a URI).

    A suite's spec lists its ``cells`` (its dataset and model fields are the first cell's); each
    stage runs every cell in one Tuner, and ``cell_specs()`` gives the spec of each cell (``cell``
    set), which selection, evaluation and tables use as that of a sweep of one dataset.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    source: str
    name: str
    dataset: str
    dataset_options: dict[str, Any]
    model: str
    model_options: dict[str, Any]
    seeds: list[int]
    storage: Location
    tracking_uri: str
    experiment: str
    ray: RaySpec
    stages: dict[str, StageSpec]
    selection: SelectionSpec = SelectionSpec()
    evaluate: EvaluateSpec
    ensemble_file: Path | None
    overrides: tuple[str, ...] = ()
    cells: tuple[Cell, ...] = ()
    cell: str = ""

    @property
    def layout(self) -> SweepLayout:
        """The named places inside this sweep's storage folder (of its cell, for a cell's spec)."""
        return SweepLayout(self.storage, self.cell)

    def cell_specs(self) -> list[SweepSpec]:
        """The spec of each cell of a suite; this spec alone for a sweep of one dataset and model."""
        if not self.cells:
            return [self]
        return [
            self.model_copy(
                update={
                    "dataset": cell.dataset,
                    "dataset_options": cell.dataset_options,
                    "model": cell.model,
                    "model_options": cell.model_options,
                    "cells": (),
                    "cell": cell.name,
                }
            )
            for cell in self.cells
        ]

    @computed_field
    @property
    def table_group(self) -> str:
        """The results table's column-group header: dataset, the options that tell its sets and splits
        apart (defaults included, so a UCI table names its split), model; kept in the sweep record."""
        return group_name(self.dataset, complete_options(self.dataset, self.dataset_options), self.model)

    @field_serializer("storage")
    def _storage_address(self, storage: Location) -> str:
        return str(storage)

    def selection_names(self) -> dict[str, tuple[str, str | None]]:
        """Every selectable name → (stage, derived name or None); SWA of stage ``swag`` is ``swa``."""
        names: dict[str, tuple[str, str | None]] = {}
        for stage in self.stages.values():
            names[stage.name] = (stage.name, None)
            for derived in stage.method_info.derived:
                label = derived if stage.name == stage.method else f"{stage.name}_{derived}"
                names[label] = (stage.name, derived)
        return names


def _read_yaml(path: Path) -> dict[str, Any]:
    source = str(path)
    if not path.is_file():
        raise SpecError(source, "", "file not found")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER)
    except UnicodeDecodeError as error:
        raise SpecError(source, "", f"not UTF-8 text (byte {error.start}); save the file as UTF-8") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SpecError(source, where, f"invalid YAML: {problem}") from None
    if not isinstance(raw, dict):
        raise SpecError(source, "", "a sweep file must be a mapping of keys to values")
    return raw


def _options_model(name: str, parameters: dict[str, inspect.Parameter]) -> type[BaseModel]:
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


def _name(source: str, key: str, value: Any) -> str:
    """``value`` when it is a name (a string); a one-line error naming ``key`` otherwise."""
    if value is None:
        raise SpecError(source, key, "required key is missing")
    if not isinstance(value, str):
        raise SpecError(source, key, f"must be a name (a string), got {kind_of(value)}: {shown(value)}")
    return value


def _validate_component(
    source: str, key: str, raw: dict[str, Any], registry: dict, options_of
) -> tuple[str, dict[str, Any]]:
    """Check a ``{name: ..., option: ...}`` mapping against a registry and the options it takes."""
    options = dict(raw)
    name = _name(source, f"{key}.name", options.pop("name", None))
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


def _check_data_files(source: str, dataset: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with ``data_dir`` made absolute (trials run elsewhere); its files must be there.

    With ``download: true`` missing files are fetched by the pipeline instead, before any trial.
    """
    try:
        check_dataset(dataset, options)
        if "data_dir" not in options:
            return options
        options = {**options, "data_dir": str(Path(options["data_dir"]).expanduser().resolve())}
        if not options.get("download", False):
            locate_dataset(dataset, options)
    except MissingDataFileError as error:
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


@functools.cache
def _stage_model(method_name: str) -> type[BaseModel]:
    """The pydantic model of a stage running ``method_name`` (built once per process)."""
    method = METHODS[method_name]
    return create_model(
        f"{method.name}_stage",
        __base__=(StageFields, method.settings),
        method=(Literal[method.name], ...),
    )


def _validate_stage(source: str, name: str, raw: dict[str, Any]) -> StageSpec:
    prefix = ("stages", name)
    if not isinstance(raw, dict):
        raise SpecError(source, key_path(prefix), "a stage must be a mapping")
    method_name = _name(source, key_path([*prefix, "method"]), raw.get("method"))
    if method_name not in METHODS:
        hint = close_match(method_name, METHODS)
        known = ", ".join(METHODS)
        raise SpecError(
            source,
            key_path([*prefix, "method"]),
            f"unknown method {shown(method_name)}{hint}; known: {known}",
        )
    method = METHODS[method_name]
    model = _stage_model(method.name)
    try:
        stage = model.model_validate(raw)
    except ValidationError as error:
        raise from_validation_error(source, error, model, prefix=prefix) from None
    settings = method.settings.model_validate(
        {key: getattr(stage, key) for key in method.settings.model_fields}
    )
    search = resolve_search(source, prefix, method, settings, stage.search)
    searcher = stage.searcher
    if searcher is None and any(isinstance(values, Range) for values in search.values()):
        searcher = SearcherSpec()
    _check_step_budget(source, prefix, method, stage)
    if stage.scheduler is not None and method.steps is None:
        raise SpecError(
            source,
            key_path([*prefix, "scheduler"]),
            f"method {method.name} reports once per trial; early stopping needs a report per step",
        )
    return StageSpec(
        name=name,
        method=method.name,
        parent=stage.parent,
        search=search,
        searcher=searcher,
        scheduler=stage.scheduler,
        resources=stage.resources,
        max_failures=stage.max_failures,
        settings=settings,
        steps=stage.steps,
        refit=stage.refit,
    )


def _check_step_budget(source: str, prefix: tuple[str, ...], method: Method, stage: BaseModel) -> None:
    """``steps`` needs a method trained in minibatch epochs, no ``epochs`` beside it, one batch size."""
    if stage.steps is None:
        return
    key = key_path([*prefix, "steps"])
    if not takes_steps(method.settings):
        raise SpecError(source, key, f"method {method.name} does not train in epochs of minibatches")
    if "epochs" in stage.model_fields_set:
        epochs = key_path([*prefix, "epochs"])
        raise SpecError(source, key, f"give steps or epochs, not both (drop epochs, e.g. ~{epochs})")
    searched = [name for name in BUDGETED if isinstance(stage.search, dict) and name in stage.search]
    if searched:
        raise SpecError(source, key, f"steps count epochs of one batch size; {searched[0]} is searched")


def _dependency_order(source: str, stages: dict[str, StageSpec]) -> dict[str, StageSpec]:
    ordered: dict[str, StageSpec] = {}
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise SpecError(source, f"stages.{name}.from", "stages depend on each other in a cycle")
        visiting.add(name)
        stage = stages[name]
        method = stage.method_info
        if stage.parent is None and method.parents and not method.parent_optional:
            raise SpecError(
                source,
                f"stages.{name}.from",
                f"required: the stage {method.name} starts from (a {'/'.join(method.parents)} stage)",
            )
        if stage.parent is not None:
            if stage.parent not in stages:
                hint = close_match(stage.parent, stages)
                raise SpecError(source, f"stages.{name}.from", f"no stage named {shown(stage.parent)}{hint}")
            parent_method = stages[stage.parent].method
            if parent_method not in method.parents:
                raise SpecError(
                    source,
                    f"stages.{name}.from",
                    f"{method.name} cannot start from a {parent_method} stage "
                    f"(needs {'/'.join(method.parents) or 'none'})",
                )
            visit(stage.parent)
        visiting.discard(name)
        ordered[name] = stage

    for name in stages:
        visit(name)
    return ordered


def _budget_steps(
    source: str, stages: dict[str, StageSpec], dataset: str, options: dict[str, Any]
) -> dict[str, StageSpec]:
    """Stages whose length is given in ``steps`` with their epochs counted on the training set (read
    only when a stage asks)."""
    budgeted = [stage for stage in stages.values() if stage.steps is not None]
    if not budgeted:
        return stages
    key = key_path(["stages", budgeted[0].name, "steps"])
    size = training_set_size(source, key, dataset, options)
    settings = {
        stage.name: with_epochs(source, stage.name, stage.settings, stage.steps, size) for stage in budgeted
    }
    return {
        name: stage.model_copy(update={"settings": settings[name]}) if name in settings else stage
        for name, stage in stages.items()
    }


def _check_evaluate(source: str, evaluate: EvaluateSpec, seeds: list[int], names) -> None:
    for index, name in enumerate(evaluate.methods):
        if name not in names:
            hint = close_match(name, names)
            raise SpecError(
                source,
                f"evaluate.methods[{index}]",
                f"{shown(name)} is not a stage or derived selection{hint}; known: {', '.join(names)}",
            )
    for index, size in enumerate(evaluate.ensemble_sizes):
        if size < 1:
            raise SpecError(source, f"evaluate.ensemble_sizes[{index}]", f"K must be ≥ 1 (got {size})")
        if size > len(seeds):
            raise SpecError(
                source,
                f"evaluate.ensemble_sizes[{index}]",
                f"K={size} is larger than the number of seeds ({len(seeds)})",
            )
    for index, size in enumerate(evaluate.subsample_sizes):
        if not 1 <= size <= evaluate.num_posterior_samples:
            raise SpecError(
                source,
                f"evaluate.subsample_sizes[{index}]",
                f"must be in 1..num_posterior_samples={evaluate.num_posterior_samples} (got {size})",
            )


def _check_predictive_plot(source: str, evaluate: EvaluateSpec, seeds: list[int], dataset: str) -> None:
    """``evaluate.predictive_plot`` needs a 1-D dataset and at most as many members as seeds."""
    if evaluate.predictive_plot is None:
        return
    key = "evaluate.predictive_plot"
    if not DATASET_REGISTRY[dataset].input_curve:
        curves = ", ".join(name for name, entry in DATASET_REGISTRY.items() if entry.input_curve)
        raise SpecError(source, key, f"dataset {dataset} has no 1-D input to plot over (these do: {curves})")
    if evaluate.predictive_plot > len(seeds):
        raise SpecError(
            source, key, f"K={evaluate.predictive_plot} is larger than the number of seeds ({len(seeds)})"
        )


def _check_ensemble_file(source: str, path: Path, seeds: list[int]) -> None:
    key = "evaluate.ensemble_file"
    try:
        found = path.is_file()
    except OSError as error:
        raise SpecError(source, key, f"not a usable path: {error.strerror}: {shown(str(path))}") from None
    if not found:
        raise SpecError(source, key, f"file not found: {path}")
    try:
        frame = read_ensemble_file(path)
        members = [members_of(ids) for ids in frame["model_ids"]]
    except ValueError as error:
        raise SpecError(source, key, f"{path.name}: {error}") from None
    for row, (size, ids) in enumerate(zip(frame["K"], members, strict=True)):
        if len(ids) != size or len(set(ids)) != size:
            raise SpecError(source, key, f"{path.name} row {row + 1}: K={size} but members {ids}")
        unknown = sorted(set(ids) - set(seeds))
        if unknown:
            raise SpecError(source, key, f"{path.name} row {row + 1}: seeds {unknown} are not in seeds")


def load_spec(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> SweepSpec:
    """Read, override and validate a sweep file; raise ``SpecError`` on the first problem, naming the
    override (not the file) when the key at fault was set on the command line."""
    try:
        return _load_spec(Path(path), overrides)
    except SpecError as error:
        culprit = blamed_override(error.key, overrides) if error.source == str(path) else None
        if culprit is None:
            raise
        raise SpecError(f"override {shown(culprit)}", error.key, error.problem) from None


def _load_spec(path: Path, overrides: list[str] | tuple[str, ...]) -> SweepSpec:
    source = str(path)
    raw = apply_overrides(_read_yaml(path), overrides)
    if isinstance(raw.get("seeds"), int) and not isinstance(raw.get("seeds"), bool):
        count = raw["seeds"]
        if not 1 <= count <= MAX_SEEDS:
            raise SpecError(
                source, "seeds", f"the number of seeds must be in 1..{MAX_SEEDS} (got {shown(count)})"
            )
        raw["seeds"] = list(range(1, count + 1))
    try:
        top = SweepFile.model_validate(raw)
    except ValidationError as error:
        raise from_validation_error(source, error, SweepFile) from None
    if len(set(top.seeds)) != len(top.seeds):
        raise SpecError(source, "seeds", "seeds must be distinct")
    check_name(source, "name", top.name)
    for stage_name in top.stages:
        check_name(source, f"stages.{stage_name}", stage_name)
    if top.mlflow.experiment is not None:
        check_experiment(source, "mlflow.experiment", top.mlflow.experiment)
    sources = expand_cells(source, raw)
    cells = [_validate_cell(source, top, cell, len(sources) > 1) for cell in sources]
    for cell in cells:
        _check_stage_methods(source, top.stages, cell)
    stages = _dependency_order(
        source,
        {name: _validate_stage(source, name, raw_stage) for name, raw_stage in top.stages.items()},
    )
    for stage in stages.values():
        for likelihood in {DATASET_LIKELIHOODS[cell.dataset] for cell in cells}:
            problem = stage.settings.likelihood_problem(likelihood)
            if problem is not None:
                raise SpecError(source, key_path(["stages", stage.name, problem[0]]), problem[1])
    first = cells[0]
    budgeted = [stage.name for stage in stages.values() if stage.steps is not None]
    if budgeted and len(cells) > 1:
        key = key_path(["stages", budgeted[0], "steps"])
        raise SpecError(source, key, "a suite's training sets differ in size; give epochs, not steps")
    stages = _budget_steps(source, stages, first.dataset, first.dataset_options)
    try:
        storage = Location.parse(top.storage or f"runs/{top.name}")
    except (OSError, ValueError) as error:
        raise SpecError(source, "storage", f"not a usable path: {error}") from None
    check_storage(source, "storage", storage)
    if storage.is_uri and top.mlflow.tracking_uri is None:
        raise SpecError(
            source,
            "mlflow.tracking_uri",
            f"required when storage is a URI ({storage}): MLflow's default SQLite file needs a local folder",
        )
    ensemble_file = None
    if top.evaluate.ensemble_file is not None:
        ensemble_file = (path.parent / top.evaluate.ensemble_file).resolve()
        _check_ensemble_file(source, ensemble_file, top.seeds)
    spec = SweepSpec(
        source=source,
        name=top.name,
        dataset=first.dataset,
        dataset_options=first.dataset_options,
        model=first.model,
        model_options=first.model_options,
        seeds=top.seeds,
        storage=storage,
        tracking_uri=top.mlflow.tracking_uri or f"sqlite:///{SweepLayout(storage).mlflow_db}",
        experiment=top.mlflow.experiment or top.name,
        ray=top.ray,
        stages=stages,
        selection=top.selection,
        evaluate=top.evaluate,
        ensemble_file=ensemble_file,
        overrides=tuple(overrides),
        cells=tuple(cells) if len(cells) > 1 else (),
    )
    _check_evaluate(source, top.evaluate, top.seeds, spec.selection_names())
    for cell in cells:
        _check_predictive_plot(source, top.evaluate, top.seeds, cell.dataset)
    return spec


def _validate_cell(source: str, top: SweepFile, cell: CellSource, in_suite: bool) -> Cell:
    """One cell's dataset and model checked against their registries, options and files (``data_dir``
    from the top level applied; in a suite, to the datasets that read files), and against each other."""
    dataset_raw = dict(cell.dataset)
    if top.data_dir is not None:
        named = _name(source, "dataset.name", dataset_raw.get("name"))
        takes_files = "data_dir" in dataset_options(named) if named in DATASETS else True
        if not takes_files and not in_suite:
            raise SpecError(source, "data_dir", f"dataset {shown(named)} reads no files")
        if takes_files:
            dataset_raw["data_dir"] = top.data_dir
    dataset, data_options = _validate_component(source, "dataset", dataset_raw, DATASETS, dataset_options)
    try:
        data_options = _check_data_files(source, dataset, data_options)
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
    )


def _check_stage_methods(source: str, stages: dict[str, Any], cell: Cell) -> None:
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
