"""The sweep file's sections and the validated sweep, as pydantic models: what ``load_spec`` checks a
file against and what the pipeline reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    computed_field,
    field_serializer,
)

from bdlsweep.analysis.tables import SPLIT_OPTIONS, group_name
from bdlsweep.search_spaces import Range
from bdlsweep.search_spaces.ranges import RangeKind
from bdlsweep.storage.layout import SweepLayout
from bdlsweep.storage.locations import Location
from bdlsweep.trainables.data.registry import complete_options
from bdlsweep.trainables.method import Method
from bdlsweep.trainables.registry import METHODS
from bdlsweep.trainables.settings import MethodSettings, StrictModel

SPLITS = ("test", "shift", "ood")
MAX_SEEDS = 10_000
MAX_ENSEMBLES_PER_SIZE = 10_000
MAX_POSTERIOR_SAMPLES = 100_000  # the papers use 100-200; the map step keeps [samples, N, C] per set


class Resources(StrictModel):
    """Per-trial (or per-actor) resources; fractional GPUs pack several trials on one GPU."""

    cpu: float = Field(1.0, gt=0)
    """CPUs per trial (or per evaluation task); fractions pack several on one CPU."""
    gpu: float = Field(0.0, ge=0)
    """GPUs per trial; fractions (0.25) pack several trials on one GPU."""
    custom: dict[str, float] = Field(default_factory=dict)
    """Custom Ray resources per trial, by name."""

    def as_tune(self) -> dict[str, float]:
        """The mapping ``tune.with_resources`` takes."""
        return {"cpu": self.cpu, "gpu": self.gpu, **self.custom}


class MLflowSpec(StrictModel):
    """Where trials are recorded; no tracking URI means a SQLite file inside the storage folder."""

    tracking_uri: str | None = None
    """MLflow tracking URI (a server, or a database); none: SQLite inside the storage folder."""
    experiment: str | None = None
    """MLflow experiment name; none: the sweep's name."""


class RaySpec(StrictModel):
    """Which Ray cluster to use: ``address`` None starts a local one (``auto`` joins a running one)."""

    address: str | None = None
    """Ray cluster to join (auto: a running one); none starts a local one."""
    num_cpus: int | None = Field(None, gt=0)
    """CPUs of the local Ray started when no address is given."""


class SelectionSpec(StrictModel):
    """How per-seed selection treats a posterior worse on validation than the model it starts from:
    flagged by default; with ``require_better_than_parent`` its stage fails instead."""

    require_better_than_parent: bool = False
    """Fail a stage whose selection is worse on validation than the model it starts from (default:
    flag it)."""


class EvaluateSpec(StrictModel):
    """How the selected members are combined into ensembles and scored.

    ``predictive_plot: K`` (1-D regression sets) also draws each method's predictive mean ± 2 std
    over x for the ensemble of the first K seeds.
    """

    methods: list[str] = Field(min_length=1)
    """Selections to evaluate: stage names, and derived ones such as swa."""
    ensemble_sizes: list[int] = Field(default_factory=lambda: [1], min_length=1)
    """Ensemble sizes K to evaluate."""
    ensembles_per_size: int = Field(10, gt=0, le=MAX_ENSEMBLES_PER_SIZE)
    """Ensembles drawn per K (the paper's rule picks their seeds)."""
    ensemble_file: str | None = None
    """A file listing each ensemble's seeds in the paper's format (overrides the rule for its K)."""
    num_posterior_samples: int = Field(100, gt=0, le=MAX_POSTERIOR_SAMPLES)
    """Posterior samples per ensemble, spread over its members."""
    subsample_sizes: list[int] = Field(default_factory=list)
    """Also score these smaller numbers of samples."""
    stratified: bool = True
    """Spread posterior samples evenly over an ensemble's members."""
    splits: list[Literal["test", "shift", "ood"]] = Field(default_factory=lambda: list(SPLITS))
    """Evaluation sets: test, shifted (corruptions) and out-of-distribution."""
    seed: int = 0
    """Seed of the evaluation's sampling."""
    resources: Resources = Field(default_factory=Resources)
    """Resources of each evaluation task (see Resources)."""
    predictive_plot: int | None = Field(None, gt=0)
    """1-D regression sets: draw each method's predictive for the ensemble of the first K seeds."""
    reference: str | None = None
    """A reference posterior each ensemble's test predictive is measured against (agreement and total
    variation; 2-Wasserstein for regression): one of ``methods`` (its first ensemble of the largest K, e.g.
    long HMC chains), or a file of reference predictions beside the sweep file (``.csv``: the NeurIPS 2021
    competition's class probabilities, one row per test point; ``.npz``: ``probs``, or ``mean`` and
    ``var``, with optional ``indices`` of the test points covered)."""

    def task_settings(self) -> dict[str, Any]:
        """The settings the evaluation's map and reduce tasks read (and its skip record compares)."""
        return self.model_dump(exclude={"resources", "methods", "ensemble_file"})


class SweepFile(StrictModel):
    """The top level of a sweep file; stages, dataset and model options are checked separately.

    ``data_dir`` (usually given on the command line, ``data_dir=/data``) sets ``dataset.data_dir``.
    ``suite`` lists (dataset, model) pairs to run side by side (see ``suite_cells``); ``settings_by``
    sets stage and evaluate options per value of a dataset or model option (see ``cell_settings``).
    """

    name: str = Field(min_length=1)
    """The sweep's name (storage folder and MLflow names)."""
    data_dir: str | None = None
    """Folder holding the dataset's files; sets dataset.data_dir."""
    dataset: dict[str, Any] | None = None
    """The dataset: name plus its options (see Data)."""
    model: dict[str, Any] | None = None
    """The model: name plus its options (see Models)."""
    suite: list[Any] | None = None
    """(dataset, model) pairs to run side by side as cells of one sweep."""
    settings_by: dict[str, Any] | None = None
    """Stage and evaluate options per value of a dataset or model option."""
    seeds: list[int] = Field(min_length=1, max_length=MAX_SEEDS)
    """Seeds, one MAP network (and one trial per grid point) each; seeds=N on the command line means 1..N."""
    storage: str | None = None
    """Storage folder or bucket URI (s3://, gs://); relative paths are resolved against the current folder."""
    mlflow: MLflowSpec = Field(default_factory=MLflowSpec)
    """Where trials are recorded (see its keys)."""
    ray: RaySpec = Field(default_factory=RaySpec)
    """Which Ray cluster runs the trials (see its keys)."""
    stages: dict[str, dict[str, Any]] = Field(min_length=1)
    """The stages by name: each a method, its settings, what it starts from and what it searches."""
    selection: SelectionSpec = Field(default_factory=SelectionSpec)
    """How per-seed selection treats a posterior worse than its parent (see its keys)."""
    evaluate: EvaluateSpec
    """How the selected members form ensembles and are scored (see its keys)."""


class SearcherSpec(StrictModel):
    """Model-based search (Optuna TPE through Ray Tune's OptunaSearch), run per seed."""

    name: Literal["optuna"] = "optuna"
    """The searcher: Optuna's TPE through Ray Tune."""
    num_samples: int = Field(16, gt=0)
    """Trials per seed."""
    max_concurrent: int = Field(2, gt=0)
    """Trials per seed running at once."""
    seed: int = 0
    """Seed of the searcher."""


class SchedulerSpec(StrictModel):
    """Early stopping of a stage's trials with Ray Tune's ASHAScheduler, per seed: at each rung
    (``grace_epochs`` × ``reduction_factor``^k steps) a trial below the top 1/``reduction_factor`` of
    its seed's trials there by ``metric`` (higher is better) stops. A stopped trial is never selected."""

    name: Literal["asha"] = "asha"
    """The scheduler: Ray Tune's ASHA."""
    grace_epochs: int = Field(1, gt=0)
    """Steps every trial runs before it can be stopped."""
    reduction_factor: float = Field(3.0, gt=1)
    """ASHA's reduction factor between rungs."""
    metric: str = Field("val_elpd", min_length=1)
    """The reported metric ASHA ranks trials by (higher is better)."""


class StageFields(StrictModel):
    """Keys every stage has, whatever its method."""

    method: str
    """The registered method this stage runs (see Methods)."""
    parent: str | None = Field(None, alias="from")
    """The stage whose per-seed selection this stage starts from (written from:)."""
    search: Literal["optuna"] | dict[str, str | list[Any] | dict[RangeKind, list[float]]] = Field(
        default_factory=dict
    )
    """What to search: setting → a named search space, a list of values, or a range; optuna for the method's
    default space with a searcher."""
    searcher: SearcherSpec | None = None
    """Model-based search per seed instead of a grid (see its keys)."""
    scheduler: SchedulerSpec | None = None
    """Early stopping of the stage's trials (see its keys)."""
    resources: Resources = Field(default_factory=Resources)
    """Resources of each trial (see Resources)."""
    max_failures: int = Field(2, ge=0)
    """Times Tune retries a failed trial."""
    steps: int | None = Field(None, gt=0)
    """Training length in optimiser steps instead of epochs (the epochs that make it)."""
    refit: bool = False
    """Train each selected configuration again on train + validation, and evaluate that model."""


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
    """One (dataset, model) of a suite, validated; ``axes`` are the suite values that name it.

    ``settings`` are the stage and evaluate options the sweep file sets for this cell alone (kept in
    the sweep record); ``stages`` and ``evaluate`` are the validated results of those that differ
    from the sweep's.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    dataset: str
    dataset_options: dict[str, Any]
    model: str
    model_options: dict[str, Any]
    axes: dict[str, Any] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    stages: dict[str, StageSpec] = Field(default_factory=dict, exclude=True)
    evaluate: EvaluateSpec | None = Field(None, exclude=True)

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
    reference_file: Path | None = None
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
                    "stages": {name: cell.stages.get(name, stage) for name, stage in self.stages.items()},
                    "evaluate": cell.evaluate or self.evaluate,
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
        return selection_names(self.stages)


def selection_names(stages: dict[str, StageSpec]) -> dict[str, tuple[str, str | None]]:
    """Every name ``stages`` can select → (stage, derived name or None); SWA of stage ``swag`` is ``swa``."""
    names: dict[str, tuple[str, str | None]] = {}
    for stage in stages.values():
        names[stage.name] = (stage.name, None)
        for derived in stage.method_info.derived:
            label = derived if stage.name == stage.method else f"{stage.name}_{derived}"
            names[label] = (stage.name, derived)
    return names
