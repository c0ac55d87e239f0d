"""A whole sweep: stages in dependency order, then ensemble evaluation, then the results table."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
from dataclasses import dataclass, field

import pandas as pd
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from bdlsweep.analysis import tables
from bdlsweep.analysis.predictive_curves import plot_predictive_curves
from bdlsweep.analysis.reference_caption import reference_caption_of
from bdlsweep.analysis.selection_flags import worse_than_parent
from bdlsweep.storage.locations import Location
from bdlsweep.storage.run_lock import RunLock
from bdlsweep.sweeps.cluster.ray_session import ray_for
from bdlsweep.sweeps.cluster.resource_check import check_resources
from bdlsweep.sweeps.cost.training_cost import describe_total, log_planned_cost, stage_costs
from bdlsweep.sweeps.evaluation.map_reduce import evaluate_ensembles
from bdlsweep.sweeps.evaluation.reference import evaluation_reference
from bdlsweep.sweeps.evaluation.suite_tables import write_suite_tables
from bdlsweep.sweeps.reading.ensemble_members import (
    plan_ensembles,
    plan_shortfalls,
    read_ensemble_file,
    write_ensemble_file,
)
from bdlsweep.sweeps.reading.errors import SpecError
from bdlsweep.sweeps.running.refit import run_refit
from bdlsweep.sweeps.running.selection import Selection
from bdlsweep.sweeps.running.stage import run_stage_cells
from bdlsweep.sweeps.running.storage_guard import check_storage, record_sweep
from bdlsweep.sweeps.spec.dataset_reading import check_data_readable
from bdlsweep.sweeps.spec.models import SweepSpec
from bdlsweep.sweeps.tracking.records import (
    TEST_UNITS,
    ensure_experiment,
    log_evaluation,
    log_files,
    metric_units,
)
from bdlsweep.sweeps.tracking.run_status import run_status
from bdlsweep.sweeps.tracking.run_tree import RUN_KIND, log_ensembles, sweep_run
from bdlsweep.sweeps.tracking.server_check import check_tracking, while_reachable
from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.data.files import MalformedDataFileError, MissingDataFileError
from bdlsweep.trainables.data.registry import download_dataset, locate_dataset, prepare_dataset

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepOutcome:
    """Where a finished sweep put its results, and the tables themselves; ``refits``: the models of
    ``refit: true`` stages that evaluation used in place of their selections."""

    storage: Location
    selections: dict[str, Selection]
    ensembles: pd.DataFrame
    table: pd.DataFrame
    table_files: dict[str, Location]
    refits: dict[str, Selection] = field(default_factory=dict)
    cells: dict[str, SweepOutcome] = field(default_factory=dict)


def check_before_start(spec: SweepSpec) -> None:
    """What the sweep file alone cannot show, checked before Ray starts or anything is written: the
    storage folder holds no other sweep's results, the tracking server answers, every trial fits
    some node."""
    check_storage(spec)
    check_tracking(spec)
    check_resources(spec)


def fetch_data(spec: SweepSpec) -> None:
    """Download each dataset (of each cell) once, before any trial, when its options say so."""
    for cell in spec.cell_specs():
        if not cell.dataset_options.get("download", False):
            continue
        try:
            download_dataset(cell.dataset, cell.dataset_options)
            locate_dataset(cell.dataset, cell.dataset_options)
        except (MissingDataFileError, MalformedDataFileError) as error:
            raise SpecError(spec.source, "dataset.data_dir", str(error)) from None
        except OSError as error:
            raise RuntimeError(f"downloading dataset {cell.dataset} failed: {error}") from None


def prepare_data(spec: SweepSpec) -> SweepSpec:
    """The spec with the dataset's once-per-sweep work done (e.g. a tokenizer saved under storage/data)."""
    options = prepare_dataset(spec.dataset, spec.dataset_options, spec.layout.data)
    if options == spec.dataset_options:
        return spec
    return spec.model_copy(update={"dataset_options": options})


def ensembles_to_evaluate(spec: SweepSpec) -> pd.DataFrame:
    """The ensembles to evaluate: the user's file (K = 1 added as single models) or the paper's rule."""
    sizes = spec.evaluate.ensemble_sizes
    generated = plan_ensembles(spec.seeds, sizes, spec.evaluate.ensembles_per_size)
    if spec.ensemble_file is None:
        return generated
    given = read_ensemble_file(spec.ensemble_file)
    given = given[given["K"].isin(sizes)]
    singles = generated[(generated["K"] == 1) & ~generated["K"].isin(given["K"])]
    return pd.concat([singles, given], ignore_index=True)


def _summary(frame: pd.DataFrame) -> dict[str, dict[int, float]]:
    """``<method>_test_<metric>`` → {K: mean over ensembles}, for MLflow charts over K."""
    rows = tables.final_test_rows(frame)
    summary: dict[str, dict[int, float]] = {}
    columns = [column for column in rows.columns if column.startswith("test_")]
    for column, means in rows.groupby(["method", "K"])[columns].mean().items():
        for (method, size), value in means.items():
            summary.setdefault(f"{method}_{column}", {})[int(size)] = float(value)
    return summary


def run_evaluation(spec: SweepSpec, selections: dict[str, Selection]) -> tuple[pd.DataFrame, bool]:
    """Evaluate every ensemble of every listed method; (results, whether they were computed now).

    Skipped when results made with the same evaluation settings and plan exist.
    """
    path = spec.layout.ensembles
    plan = ensembles_to_evaluate(spec)
    settings = spec.evaluate.task_settings()
    chosen = {label: selections[label] for label in spec.evaluate.methods}
    members = {
        label: {seed: spec.layout.relative(path) for seed, path in selection.checkpoints().items()}
        for label, selection in chosen.items()
    }  # a refit changes them
    record = json.dumps(
        {**settings, "methods": spec.evaluate.methods, "plan": plan.to_dict("list"), "members": members}
    )
    record_path = spec.layout.evaluation_settings
    if path.is_file() and record_path.is_file() and record_path.read_text() == record:
        logger.info("evaluation: finished earlier with the same settings, skipped")
        return pd.read_csv(io.StringIO(path.read_text())), False
    spec.layout.ensemble_members.write_text(write_ensemble_file(plan))
    if spec.ensemble_file is None:
        evaluate = spec.evaluate
        for line in plan_shortfalls(spec.seeds, evaluate.ensemble_sizes, evaluate.ensembles_per_size):
            logger.info("evaluation: %s", line)
    curve_size = spec.evaluate.predictive_plot
    frames = evaluate_ensembles(
        chosen,
        plan,
        spec.dataset,
        spec.dataset_options,
        settings,
        spec.evaluate.resources.as_tune(),
        None if curve_size is None else ",".join(map(str, spec.seeds[:curve_size])),
        spec.layout,
        evaluation_reference(spec),
    )
    if frames.curves is not None:
        write_predictive_plot(spec, frames.curves)
    spec.layout.evaluation_members.write_text(frames.members.to_csv(index=False))
    spec.layout.reliability.write_text(frames.reliability.to_csv(index=False))
    spec.layout.score_histograms.write_text(frames.score_histograms.to_csv(index=False))
    if not frames.ceiling.empty:
        spec.layout.reference_ceiling.write_text(frames.ceiling.to_csv(index=False))
    else:  # one an earlier evaluation with another reference wrote
        spec.layout.reference_ceiling.delete()
    path.write_text(frames.ensembles.to_csv(index=False))
    record_path.write_text(record)
    return frames.ensembles, True


def write_predictive_plot(spec: SweepSpec, curves: pd.DataFrame) -> Location:
    """The curves as ``evaluation/predictive_curves.csv`` and their plot as ``results/predictive_1d.png``."""
    spec.layout.predictive_curves.write_text(curves.to_csv(index=False))
    data = load_dataset(spec.dataset, spec.dataset_options).curve
    image = plot_predictive_curves(curves, data.train_x, data.train_y)
    return spec.layout.predictive_plot.write_bytes(image)


def write_tables(spec: SweepSpec, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Location]]:
    """The main table as Markdown, CSV and LaTeX under ``<storage>/results`` (a cell's: in its folder)."""
    table = tables.main_table({spec.table_group: frame}, methods=spec.evaluate.methods)
    flagged = worse_than_parent([spec.layout], spec.evaluate.methods)
    record = {"evaluate": spec.evaluate.model_dump(), "reference_file": spec.reference_file}
    caption = reference_caption_of(spec.layout, record, frame)
    notes = tables.TableNotes(caption=caption, flagged=flagged)
    return table, tables.write_table_files(spec.layout.results, table, notes)


def _diagnostics(spec: SweepSpec) -> list[Location]:
    """The reliability bins, OOD-score histograms and reference ceiling this sweep's evaluation wrote."""
    paths = [spec.layout.reliability, spec.layout.score_histograms, spec.layout.reference_ceiling]
    return [path for path in paths if path.is_file()]


def _plots(spec: SweepSpec) -> list[Location]:
    """The plots this sweep's evaluation wrote."""
    return [path for path in [spec.layout.predictive_plot] if path.is_file()]


def record_evaluation(
    spec: SweepSpec, experiment_id: str, frame: pd.DataFrame, files: dict[str, Location], parent: str
) -> str:
    """The evaluation's MLflow run below the sweep's (mean metrics per method over K, tables and plots
    as artifacts) and a child run per ensemble; the evaluation run's id."""
    tags = {"sweep": spec.name, "stage": "evaluate", "dataset": spec.dataset, "model": spec.model}
    tags.update({"cell": spec.cell} if spec.cell else {})
    tags.update({RUN_KIND: "evaluation", MLFLOW_PARENT_RUN_ID: parent})
    tags.update({key: units for key, units in metric_units(spec.dataset).items() if key == TEST_UNITS})
    run_id = log_evaluation(
        spec.tracking_uri,
        experiment_id,
        tags,
        _summary(frame),
        [spec.layout.ensembles, *_diagnostics(spec), *files.values(), *_plots(spec)],
        spec.storage,
    )
    log_ensembles(MlflowClient(spec.tracking_uri), experiment_id, run_id, spec.name, frame)
    return run_id


def run_sweep(spec: SweepSpec) -> SweepOutcome:
    """Run (or resume) every stage, evaluate the ensembles, write and log the tables."""
    check_before_start(spec)
    check_data_readable(spec)
    if not spec.dataset_options.get("download", False):
        evaluation_reference(spec)  # a reference file that does not fit the test set stops the run now
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(ray_for(spec.ray.address, spec.ray.num_cpus))
        except ConnectionError as error:  # ray.init found no cluster there; nothing is written yet
            problem = str(error).strip().splitlines()[0]
            raise SpecError(spec.source, "ray.address", f"{spec.ray.address}: {problem}") from None
        lock = RunLock(spec.layout)
        try:
            lock.acquire()
        except OSError as error:  # e.g. a folder the file system refuses (/proc/x, a read-only mount)
            problem = f"cannot create {spec.storage}: {error.strerror}"
            raise SpecError(spec.source, "storage", problem) from None
        stack.callback(lock.release)
        return _run_stages_and_evaluate(spec)


def announce_cost(spec: SweepSpec, root: str) -> None:
    """Print each stage's planned trials and epochs as the run starts, and log them to the sweep's run."""
    costs = stage_costs(spec)
    for cost in costs:
        logger.info("plan: stage %s: %d trials, %s", cost.stage, cost.trials, cost.describe())
    logger.info("plan: %s", describe_total(costs))
    logged = functools.partial(log_planned_cost, MlflowClient(spec.tracking_uri), root, costs)
    while_reachable(spec.tracking_uri, "planned cost not logged", logged)


def _run_stages_and_evaluate(spec: SweepSpec) -> SweepOutcome:
    """Record the sweep, run its stages in order, evaluate the ensembles and write the tables."""
    record_sweep(spec)
    fetch_data(spec)
    cells = [prepare_data(cell) for cell in spec.cell_specs()]
    if not spec.cells:
        spec = cells[0]
    else:
        spec = spec.model_copy(update={"cells": tuple(_prepared_cell(spec, cell) for cell in cells)})
    experiment_id = ensure_experiment(spec.tracking_uri, spec.experiment, spec.layout.mlflow_artifacts)
    root = sweep_run(spec, experiment_id)
    announce_cost(spec, root)
    with run_status(spec.tracking_uri, root, f"sweep {spec.name}"):
        selections: dict[str, dict[str, Selection]] = {cell.cell: {} for cell in cells}
        refits: dict[str, dict[str, Selection]] = {cell.cell: {} for cell in cells}
        for stage in spec.stages.values():
            logger.info("stage %s (%s)", stage.name, stage.method)
            for name, chosen in run_stage_cells(spec, stage, selections, experiment_id, root).items():
                selections[name].update(chosen)
            if stage.refit:
                for cell in cells:
                    refits[cell.cell].update(
                        run_refit(
                            cell,
                            cell.stages[stage.name],
                            selections[cell.cell],
                            refits[cell.cell],
                            experiment_id,
                            root,
                        )
                    )
        outcomes = {
            cell.cell: _evaluate_cell(cell, selections[cell.cell], refits[cell.cell], experiment_id, root)
            for cell in cells
        }
    if not spec.cells:
        return outcomes[spec.cell]
    frame = pd.concat(
        [outcome.ensembles.assign(cell=name) for name, outcome in outcomes.items()], ignore_index=True
    )
    frames = {name: outcome.ensembles for name, outcome in outcomes.items()}
    table, files = write_suite_tables(spec, frames)
    if root is not None:
        client = MlflowClient(spec.tracking_uri)
        logged = functools.partial(log_files, client, root, list(files.values()), spec.storage, "results")
        while_reachable(spec.tracking_uri, "suite table not logged", logged)
    return SweepOutcome(spec.storage, {}, frame, table, files, cells=outcomes)


def _prepared_cell(spec: SweepSpec, prepared: SweepSpec):
    """The suite's cell with the dataset options its data preparation gave."""
    cell = next(cell for cell in spec.cells if cell.name == prepared.cell)
    return cell.model_copy(update={"dataset_options": prepared.dataset_options})


def _evaluate_cell(
    spec: SweepSpec,
    selections: dict[str, Selection],
    refits: dict[str, Selection],
    experiment_id: str,
    root: str | None,
) -> SweepOutcome:
    """Evaluate one cell's ensembles (a sweep of one dataset: the sweep's), write and log its tables."""
    if spec.cell:
        logger.info("evaluation of cell %s", spec.cell)
    frame, computed = run_evaluation(spec, {**selections, **refits})
    table, files = write_tables(spec, frame)
    if computed:
        while_reachable(
            spec.tracking_uri,
            "evaluation not recorded",
            lambda: record_evaluation(spec, experiment_id, frame, files, root),
        )
    return SweepOutcome(spec.storage, selections, frame, table, files, refits)
