"""One stage as one Ray Tune ``Tuner``: seeds × search grid, checkpoints, MLflow, per-seed selection."""

from __future__ import annotations

import logging
import re
from dataclasses import replace

import ray
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from ray import tune

from bdlsweep.analysis.grid_edges import grid_edge_notes
from bdlsweep.analysis.number_text import short_number
from bdlsweep.analysis.selection_checks import blown_up_notes, worse_seeds, worse_than_parent_notes
from bdlsweep.storage.locations import Location
from bdlsweep.sweeps.running.early_stopping import check_stopped, interrupted, ran_whole_budget
from bdlsweep.sweeps.running.experiments import SELECTION_METRIC, Experiment, experiments
from bdlsweep.sweeps.running.finished_trials import finished_trials
from bdlsweep.sweeps.running.progress import TrialProgress
from bdlsweep.sweeps.running.selection import Selection, TrialRecord, select_per_seed
from bdlsweep.sweeps.running.tuner_state import keep_tuner_state, repair_tuner_state
from bdlsweep.sweeps.spec.models import Cell, StageSpec, SweepSpec
from bdlsweep.sweeps.spec.stage_grid import trial_count
from bdlsweep.sweeps.tracking.records import (
    VAL_UNITS,
    discard_partial_runs,
    flatten,
    metric_units,
    tag_selected,
)
from bdlsweep.sweeps.tracking.run_status import StageInterrupted, run_status
from bdlsweep.sweeps.tracking.run_tree import RUN_KIND, stage_run
from bdlsweep.sweeps.tracking.server_check import while_reachable
from bdlsweep.sweeps.tracking.trial_backfill import backfill_tuner
from bdlsweep.sweeps.tracking.trial_logger import MLflowTrialLogger
from bdlsweep.trainables.posteriors.checkpoint import CorruptCheckpointError, read_metadata
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.replay import FinishedTrials, replaying
from bdlsweep.trainables.runtime.reporting import DIVERGED, DIVERGED_BECAUSE, POSTERIOR_DIR, stop_diverged
from bdlsweep.trainables.runtime.suite_cell import CELL, per_cell
from bdlsweep.trainables.settings import MethodSettings

logger = logging.getLogger(__name__)


def selection_labels(spec: SweepSpec, stage: StageSpec) -> dict[str, str | None]:
    """The selectable names a stage produces → derived name (None for the stage itself)."""
    return {
        label: derived
        for label, (stage_name, derived) in spec.selection_names().items()
        if stage_name == stage.name
    }


def prepare_seeds(stage: StageSpec, context: TrialContext, folders: dict[int, Location]) -> dict[int, str]:
    """Run the method's once-per-seed preparation into ``folders`` (seed → folder) as Ray tasks,
    skipping seeds already prepared; seed → folder, empty for a method without preparation."""
    return prepare_cells(stage, [(context, folders, stage.settings)])[0]


def prepare_cells(
    stage: StageSpec, work: list[tuple[TrialContext, dict[int, Location], MethodSettings]]
) -> list[dict[int, str]]:
    """``prepare_seeds`` for several (context, folders, settings) of a suite's cells as one batch of
    Ray tasks, so that every cell's preparation runs side by side."""
    prepare = stage.method_info.prepare
    if prepare is None:
        return [{} for _ in work]
    task = ray.remote(prepare).options(
        num_cpus=stage.resources.cpu, num_gpus=stage.resources.gpu, max_retries=stage.max_failures
    )
    pending = []
    for context, folders, settings in work:
        for seed, folder in folders.items():
            try:
                read_metadata(str(folder))
            except CorruptCheckpointError:
                pending.append(task.remote(context, settings, seed, str(folder)))
    ray.get(pending)
    return [{seed: str(folder) for seed, folder in folders.items()} for _, folders, _ in work]


def trial_records(
    grid: tune.ResultGrid | list[tune.Result], policy: str, storage: Location
) -> list[TrialRecord]:
    """Each finished trial that did not diverge as a selection candidate, at its best or last
    checkpoint (addressed by URI when the storage is one, so that any node can read it)."""
    records = []
    for result in grid:
        if not ran_whole_budget(result) or result.checkpoint is None:  # failed, diverged or stopped early
            continue
        checkpoint, metrics = result.checkpoint, result.metrics
        if policy == "best":
            checkpoint, metrics = max(
                result.best_checkpoints,
                key=lambda pair: pair[1].get(SELECTION_METRIC, float("-inf")),
            )
        records.append(
            TrialRecord(
                trial_id=result.metrics["trial_id"],
                seed=int(result.config["seed"]),
                config=result.config,
                metrics={k: v for k, v in metrics.items() if isinstance(v, (int, float, str))},
                checkpoint=str(storage.on_same_filesystem(checkpoint.path) / POSTERIOR_DIR),
            )
        )
    return records


def _tag_stage_run(spec: SweepSpec, stage_run_id: str | None, key: str, note: str) -> None:
    """Tag the stage's MLflow run with a note on its selection (a tracking server away costs a warning)."""
    if stage_run_id is None:
        return
    client = MlflowClient(spec.tracking_uri)
    while_reachable(
        spec.tracking_uri, f"tag {key} not set", lambda: client.set_tag(stage_run_id, key, note[:5000])
    )


def _tag_in_mlflow(
    spec: SweepSpec, experiment_id: str, stage: StageSpec, label: str, trial_ids: list[str]
) -> None:
    """Tag the selected runs; a tracking server that is away costs a warning (sync-mlflow tags later)."""
    while_reachable(
        spec.tracking_uri,
        f"selected {label} runs not tagged",
        lambda: tag_selected(spec.tracking_uri, experiment_id, spec.name, stage.name, label, trial_ids),
    )


def run_tags(spec: SweepSpec, stage: StageSpec, tune_experiment: str) -> dict[str, str]:
    """The tags every MLflow run of a stage's trials carries (``tune_experiment``: the Tuner's name)."""
    return {
        "sweep": spec.name,
        "stage": stage.name,
        "method": stage.method,
        "dataset": spec.dataset,
        "model": spec.model,
        "storage": str(spec.storage),
        "tune_experiment": tune_experiment,
        RUN_KIND: "trial",
        **{key: units for key, units in metric_units(spec.dataset).items() if key == VAL_UNITS},
    }


def suite_cell_tags(spec: SweepSpec) -> dict[str, dict[str, str]]:
    """Each cell of a suite → the tags of its trials' runs (empty for a sweep of one dataset)."""
    return {cell.name: cell_tags(cell) for cell in spec.cells}


def cell_tags(cell: Cell) -> dict[str, str]:
    """The tags of a suite's trial run that tell its cell: its name, dataset and model, the suite's
    values for it (``dataset.split``, ``dataset.dataset``, ...), its validation units, and the options
    set for it alone (``cell_settings.stages.map.epochs``)."""
    units = {key: value for key, value in metric_units(cell.dataset).items() if key == VAL_UNITS}
    axes = {re.sub(r"^suite\[\d+\]\.", "", key): str(value) for key, value in cell.axes.items()}
    settings = {f"cell_settings.{key}": str(value) for key, value in flatten(cell.settings).items()}
    return {CELL: cell.name, "dataset": cell.dataset, "model": cell.model, **axes, **units, **settings}


def _check_divergence(stage: StageSpec, seeds: list[int], finished: list[tune.Result], where: str) -> None:
    """Log diverged trials, one line per seed and reason with the grid values that diverged; raise
    ``RuntimeError`` naming the seed and grid if all of a seed's diverged (``where``: the stage, and the
    cell of a suite)."""
    diverged: dict[tuple[int, str], list[str]] = {}
    for result in finished:
        if result.metrics.get(DIVERGED):
            seed, because = int(result.config["seed"]), result.metrics.get(DIVERGED_BECAUSE, "NaN/inf")
            chosen = " ".join(f"{key}={flatten(result.config).get(key)}" for key in stage.search)
            diverged.setdefault((seed, str(because)), []).append(chosen or "its only trial")
    totals = {seed: sum(int(result.config["seed"]) == seed for result in finished) for seed in seeds}
    for (seed, because), points in sorted(diverged.items()):
        logger.warning(
            "%s: seed=%s: %d of %d trials diverged (%s), not selectable: %s",
            where,
            seed,
            len(points),
            totals.get(seed, len(points)),
            because,
            "; ".join(points),
        )
    grid = ", ".join(f"{key}={values}" for key, values in stage.search.items()) or "no search"
    for seed in seeds:
        outcomes = [result.metrics.get(DIVERGED) for result in finished if int(result.config["seed"]) == seed]
        if outcomes and all(outcomes):
            reasons = sorted({because for (other, because) in diverged if other == seed})
            raise RuntimeError(
                f"{where}: every trial of seed {seed} diverged ({'; '.join(reasons)}; grid: {grid})"
            )


def fit_experiment(
    spec: SweepSpec,
    stage: StageSpec,
    experiment: Experiment,
    trainable,
    experiment_id: str,
    parent: str | None,
    extra_tags: dict[str, str] | None = None,
    progress: tuple[str, int] | None = None,
) -> tune.ResultGrid:
    """Run one Tuner of a stage, or restore and finish it when an earlier run was interrupted; its
    trials' MLflow runs carry the stage's tags, ``extra_tags`` and ``parent`` as their parent run.
    ``progress``: the name and trial count its progress lines show (default: the stage's grid)."""
    path = experiment.folder
    tags = run_tags(spec, stage, experiment.tune_experiment)
    tags.update({MLFLOW_PARENT_RUN_ID: parent} if parent else {})
    tags.update(extra_tags or {})
    searched = [CELL, *stage.search] if spec.cells else list(stage.search)
    by_cell = suite_cell_tags(spec)
    if tune.Tuner.can_restore(path):
        logger.info("stage %s: resuming from %s", stage.name, path)
        repair_tuner_state(path)
        tuner = tune.Tuner.restore(path, trainable, resume_errored=True, param_space=experiment.param_space)
        keep_tuner_state(path)
        grid = tuner.fit()
        while_reachable(
            spec.tracking_uri,
            "records of the interrupted attempt not checked",
            lambda: backfill_tuner(
                MlflowClient(spec.tracking_uri), experiment_id, path, tags, searched, by_cell
            ),
        )
        return grid
    while_reachable(
        spec.tracking_uri,
        "runs of an earlier attempt not checked",
        lambda: discard_partial_runs(spec.tracking_uri, experiment_id, tags),
    )
    best = stage.method_info.checkpoint == "best"
    if progress is not None:
        label, total = progress
    elif stage.searcher is None and stage.scheduler is None:
        label, total = stage.name, trial_count(stage, spec.seeds, max(1, len(spec.cells)))
    else:  # one Tuner per seed (and cell)
        label, total = f"{stage.name}/{experiment.tune_experiment}", trial_count(stage, [0])
    tracker = MLflowTrialLogger(
        spec.tracking_uri, experiment_id, tags=tags, searched=searched, cell_tags=by_cell
    )
    tuner = tune.Tuner(
        trainable,
        param_space=experiment.param_space,
        tune_config=experiment.tune_config,
        run_config=tune.RunConfig(
            name=experiment.name,
            storage_path=str(experiment.storage_path),
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=2,  # Tune saves its experiment state every num_to_keep checkpoints of a trial
                checkpoint_score_attribute=SELECTION_METRIC if best else None,
                checkpoint_score_order="max",
            ),
            failure_config=tune.FailureConfig(max_failures=stage.max_failures),
            stop=stop_diverged,
            callbacks=[
                tracker,
                TrialProgress(label, searched, total, best_epoch=stage.method_info.checkpoint == "best"),
            ],
            verbose=0,
        ),
    )
    keep_tuner_state(path)
    return tuner.fit()


def stage_parent(
    spec: SweepSpec, experiment_id: str, stage: StageSpec, sweep_parent: str | None
) -> str | None:
    """The stage's MLflow parent run (None, and trials not nested, while the server is away)."""
    if sweep_parent is None:
        return None
    return while_reachable(
        spec.tracking_uri,
        f"no parent run for stage {stage.name}",
        lambda: stage_run(spec, experiment_id, stage.name, sweep_parent),
    )


def _finished_before(spec: SweepSpec, stage: StageSpec) -> FinishedTrials:
    """The trials of the stage's interrupted Tuners that had finished, with the reports to replay."""
    finished: FinishedTrials = {}
    for experiment in experiments(spec, stage):
        if tune.Tuner.can_restore(experiment.folder):
            finished.update(finished_trials(experiment.folder, stage.method_info.checkpoint))
    if finished:
        logger.info(
            "stage %s: %d trial(s) had finished before the interruption; their results are reported "
            "again, not trained again",
            stage.name,
            len(finished),
        )
    return finished


def stage_context(
    spec: SweepSpec,
    stage: StageSpec,
    parents: dict[int, str],
    parent_scores: dict[int, dict[str, float]] | None = None,
) -> TrialContext:
    """What the stage's trials share: data, model, ``parents`` (seed → upstream posterior folder) and
    the validation scores of those (seed → scores) that a trial far beyond them diverged from."""
    return TrialContext(
        sweep=spec.name,
        stage=stage.name,
        dataset=spec.dataset,
        dataset_options=spec.dataset_options,
        model=spec.model,
        model_options=spec.model_options,
        parents=parents,
        parent_scores=parent_scores or {},
    )


def run_stage(
    spec: SweepSpec,
    stage: StageSpec,
    done: dict[str, Selection],
    experiment_id: str,
    sweep_parent: str | None = None,
) -> dict[str, Selection]:
    """Run (or resume, or skip when finished) one stage of a sweep of one dataset; its selections by
    label. Its trials' MLflow runs nest under a stage run below ``sweep_parent`` when given."""
    return run_stage_cells(spec, stage, {spec.cell: done}, experiment_id, sweep_parent)[spec.cell]


def run_stage_cells(
    spec: SweepSpec,
    stage: StageSpec,
    done: dict[str, dict[str, Selection]],
    experiment_id: str,
    sweep_parent: str | None = None,
) -> dict[str, dict[str, Selection]]:
    """Run (or resume, or skip when finished) one stage over every cell of the sweep (one for a sweep of
    one dataset) in one Tuner; cell → its selections by label (``done``: the earlier stages' alike)."""
    labels = selection_labels(spec, stage)
    cells = spec.cell_specs()
    if all(cell.layout.selection(label).is_file() for cell in cells for label in labels):
        logger.info("stage %s: finished earlier, skipped", stage.name)
        return {
            cell.cell: {label: Selection.load(cell.layout.selection(label)) for label in labels}
            for cell in cells
        }
    upstream = {cell.cell: done[cell.cell][stage.parent] if stage.parent else None for cell in cells}
    contexts = [
        stage_context(cell, stage, parent.checkpoints(), parent.scores())
        if (parent := upstream[cell.cell]) is not None
        else stage_context(cell, stage, {})
        for cell in cells
    ]
    folders = [{seed: cell.layout.prepared(stage.name, seed) for seed in spec.seeds} for cell in cells]
    settings = [cell.stages[stage.name].settings for cell in cells]
    prepared = prepare_cells(stage, list(zip(contexts, folders, settings, strict=True)))
    by_cell = {
        cell.cell: replace(context, prepared=ready)
        for cell, context, ready in zip(cells, contexts, prepared, strict=True)
    }
    finished = _finished_before(spec, stage)
    train = replaying(per_cell(stage.method_info.trainable) if spec.cells else stage.method_info.trainable)
    context = by_cell if spec.cells else by_cell[spec.cell]
    trainable = tune.with_resources(
        tune.with_parameters(train, context=context, finished=finished), stage.resources.as_tune()
    )
    parent = stage_parent(spec, experiment_id, stage, sweep_parent)
    with run_status(spec.tracking_uri, parent, f"stage {stage.name}"):
        results = _run_trials(spec, stage, trainable, experiment_id, parent)
        return {
            cell.cell: _recorded_failure(
                cell,
                stage,
                lambda cell=cell: _select(
                    cell, cell.stages[stage.name], labels, results, experiment_id, parent, upstream[cell.cell]
                ),
            )
            for cell in cells
        }


def _recorded_failure(spec: SweepSpec, stage: StageSpec, select):
    """``select()``, whose failure is written to the cell's ``stage_failure`` file for ``bdlsweep status``
    (and the file of an earlier failure removed once it succeeds)."""
    failure = spec.layout.stage_failure(stage.name)
    try:
        chosen = select()
    except RuntimeError as error:
        failure.write_text(f"{error}\n")
        raise
    failure.delete()
    return chosen


def _run_trials(
    spec: SweepSpec, stage: StageSpec, trainable, experiment_id: str, parent
) -> list[tuple[tune.Result, Location]]:
    """Fit every Tuner of the stage; each trial that did not fail, with its Tuner's storage folder."""
    finished = []
    for experiment in experiments(spec, stage):
        grid = fit_experiment(spec, stage, experiment, trainable, experiment_id, parent)
        if interrupted(stage, experiment.folder, grid):
            raise StageInterrupted(
                f"stage {stage.name} was interrupted; run the same command again to resume it"
            )
        for result in grid:
            if result.error is not None:
                logger.warning("stage %s: trial failed and is not selectable: %s", stage.name, result.error)
        finished += [result for result in grid if result.error is None]
    return finished


def _check_selection(
    spec: SweepSpec,
    stage: StageSpec,
    selection: Selection,
    records: list[TrialRecord],
    upstream: Selection | None,
    stage_run_id: str | None,
) -> Selection:
    """Warn (console and MLflow tags) about a selection worse than its upstream one and about seeds
    with blown-up trials; fail the stage on the first when the sweep requires better than parent. The
    selection, with the seeds worse than their parent recorded."""
    label, metric = selection.label, selection.metric
    worse: list[str] = []
    seeds: list[int] = []
    if upstream is not None:
        chosen = {seed: float(record.metrics[metric]) for seed, record in selection.members.items()}
        parents = {seed: float(record.metrics[upstream.metric]) for seed, record in upstream.members.items()}
        seeds = list(worse_seeds(chosen, parents))
        configs = {seed: record.config for seed, record in selection.members.items()}
        worse = worse_than_parent_notes(
            label, stage.method, metric, chosen, upstream.label, parents, stage.search, configs
        )
    if worse and spec.selection.require_better_than_parent:
        raise RuntimeError(f"stage {stage.name}: {worse[0]} (selection.require_better_than_parent)")
    outliers = blown_up_notes(label, metric, [(r.trial_id, r.seed, r.metrics) for r in records])
    for key, notes in (("worse_than_parent", worse), ("outliers", outliers)):
        for index, note in enumerate(notes):
            shown = f"[{spec.cell}] {note}" if spec.cell else note
            logger.warning("%s", shown)
            _tag_stage_run(spec, stage_run_id, f"{key}.{label}.{index}", shown)
    return replace(selection, parent=upstream.label if upstream else None, worse_than_parent=seeds)


def _select(
    spec: SweepSpec,
    stage: StageSpec,
    labels: dict[str, str | None],
    results: list[tune.Result],
    experiment_id: str,
    parent,
    upstream: Selection | None,
) -> dict[str, Selection]:
    """Select per seed, for each of the stage's labels, among the trials of ``spec``'s cell (a sweep of
    one dataset: all of them); save and tag the selections."""
    finished = [result for result in results if result.config.get(CELL, "") == spec.cell]
    records = trial_records(finished, stage.method_info.checkpoint, spec.storage)
    where = f"stage {stage.name}" + (f" (cell {spec.cell})" if spec.cell else "")
    _check_divergence(stage, spec.seeds, finished, where)
    check_stopped(stage, spec.seeds, finished)
    selections = {}
    for label, derived in labels.items():
        metric = SELECTION_METRIC if derived is None else stage.method_info.derived[derived].metric
        try:
            members = select_per_seed(records, metric, spec.seeds)
        except RuntimeError as error:
            raise RuntimeError(f"{where} ({label}): {error}") from None
        selection = Selection(label, stage.name, stage.method, derived, metric, members)
        selection = _check_selection(spec, stage, selection, records, upstream, parent)
        selection.save(spec.layout)
        shown = f"{label} [{spec.cell}]" if spec.cell else label
        for seed, record in members.items():
            chosen = "".join(
                f" {key}={short_number(flatten(record.config).get(key))}" for key in stage.search
            )
            logger.info(
                "%s selected seed=%s%s (%s=%.4f)", shown, seed, chosen, metric, record.metrics[metric]
            )
        for note in grid_edge_notes(stage.search, {seed: record.config for seed, record in members.items()}):
            logger.warning("%s: %s", shown, note)
            _tag_stage_run(spec, parent, f"grid_edge.{label}.{note.partition('=')[0]}", note)
        _tag_in_mlflow(spec, experiment_id, stage, label, [record.trial_id for record in members.values()])
        selections[label] = selection
    return selections
