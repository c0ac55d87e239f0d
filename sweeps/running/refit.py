"""``refit: true``: after selection, each selected configuration is trained again on the training and
validation sets together (the UCI protocol), as its own MLflow runs; evaluation then uses these models.

A stage that starts from a refit stage still selects on validation from its parent's validation-selected
model (its parent's refit has seen the validation set); its own refits start from the parent's refits.
A method whose result is its best epoch (MAP) is refit for as many epochs as its selected checkpoint had.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from ray import tune
from ray.tune.search.basic_variant import BasicVariantGenerator

from bdlsweep.sweeps.running.experiments import Experiment
from bdlsweep.sweeps.running.selection import Selection, TrialRecord
from bdlsweep.sweeps.running.stage import (
    fit_experiment,
    prepare_seeds,
    selection_labels,
    stage_context,
    stage_parent,
    trial_records,
)
from bdlsweep.sweeps.spec.models import StageSpec, SweepSpec

logger = logging.getLogger(__name__)

REFIT_OF = "refit_of"  # in a refit member's metrics: the selected trial it trains again


def refit_config(stage: StageSpec, record: TrialRecord) -> dict[str, Any]:
    """The selected trial's configuration, for as many epochs as its kept checkpoint had when the
    method keeps its best epoch."""
    config = dict(record.config)
    if stage.method_info.checkpoint == "best" and "epoch" in record.metrics and "epochs" in config:
        config["epochs"] = int(record.metrics["epoch"])
    return config


def refit_space(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The refit Tuner's param space over configurations of one stage (same keys): a key whose value
    differs between them is a choice of those values, so Tune takes each as a valid pre-set point."""
    space: dict[str, Any] = {}
    for key in points[0]:
        values = []
        for point in points:
            if point[key] not in values:
                values.append(point[key])
        space[key] = values[0] if len(values) == 1 else tune.choice(values)
    return space


def run_refit(
    spec: SweepSpec,
    stage: StageSpec,
    selections: dict[str, Selection],
    refits: dict[str, Selection],
    experiment_id: str,
    sweep_parent: str | None = None,
) -> dict[str, Selection]:
    """Train each of the stage's selected configurations again on train + validation (or find them
    trained by an earlier run); the refit selections by label, saved beside the selections."""
    labels = selection_labels(spec, stage)
    if all(spec.layout.refit_selection(label).is_file() for label in labels):
        logger.info("stage %s: refit earlier, skipped", stage.name)
        return {label: Selection.load(spec.layout.refit_selection(label)) for label in labels}
    chosen = {label: selections[label] for label in labels}
    configs = {
        record.trial_id: refit_config(stage, record)
        for selection in chosen.values()
        for record in selection.members.values()
    }
    parents = {}
    if stage.parent is not None:
        parents = (refits.get(stage.parent) or selections[stage.parent]).checkpoints()
    context = replace(stage_context(spec, stage, parents), refit=True)
    folders = {seed: spec.layout.refit_prepared(stage.name, seed) for seed in spec.seeds}
    context = replace(context, prepared=prepare_seeds(stage, context, folders))
    trainable = tune.with_resources(
        tune.with_parameters(stage.method_info.trainable, context=context), stage.resources.as_tune()
    )
    points = list(configs.values())
    search = BasicVariantGenerator(points_to_evaluate=points)
    folder = spec.layout.refit(stage.name)
    experiment = Experiment(
        folder.parent,
        folder.name,
        refit_space(points),
        tune.TuneConfig(reuse_actors=True, search_alg=search, num_samples=len(points)),
    )
    parent = stage_parent(spec, experiment_id, stage, sweep_parent)
    logger.info(
        "stage %s: refitting %d selected configuration(s) on train + validation", stage.name, len(points)
    )
    grid = fit_experiment(
        spec,
        stage,
        experiment,
        trainable,
        experiment_id,
        parent,
        {"refit": "true"},
        (f"{stage.name} refit", len(points)),
    )
    failed = [result.error for result in grid if result.error is not None]
    if failed:
        raise RuntimeError(f"stage {stage.name}: a refit failed: {failed[0]}")
    finished = trial_records(grid, "last", spec.storage)  # diverged ones are left out
    refit_of = {
        trial_id: next((record for record in finished if record.config == config), None)
        for trial_id, config in configs.items()
    }
    result = {}
    for label, selection in chosen.items():
        members = {}
        for seed, record in selection.members.items():
            trained = refit_of[record.trial_id]
            if trained is None:
                raise RuntimeError(
                    f"stage {stage.name}: the refit of seed {seed} ({record.trial_id}) diverged or did not "
                    "finish; its trials are under refit/ in the stage's folder"
                )
            metrics = {**record.metrics, REFIT_OF: record.trial_id}
            members[seed] = replace(trained, metrics=metrics)
        refit = replace(selection, members=members)
        refit.save(spec.layout, spec.layout.refit_selection(label))
        result[label] = refit
    return result
