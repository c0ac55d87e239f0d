"""Stored results as pandas: a stage's Tune ``ResultGrid`` and trials, selections, ensemble results."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from bdlsweep.storage.layout import MissingRecordError, SweepLayout
from bdlsweep.storage.locations import Location

SweepDir = str | Path | Location


def experiment_folders(sweep_dir: SweepDir, stage: str) -> list[Location]:
    """The Tune experiment folders of a stage: the stage folder (grid) or one per seed (Optuna)."""
    return SweepLayout.at(sweep_dir).tune_experiments(stage)


def load_result_grids(sweep_dir: SweepDir, stage: str) -> list:
    """The Ray Tune ``ResultGrid`` of each experiment of a stage (no trainable needed)."""
    from ray.tune import ExperimentAnalysis, ResultGrid

    return [ResultGrid(ExperimentAnalysis(str(path))) for path in experiment_folders(sweep_dir, stage)]


def load_result_grid(sweep_dir: SweepDir, stage: str):
    """The Ray Tune ``ResultGrid`` of a grid stage (one Tuner); see ``load_result_grids`` for Optuna."""
    grids = load_result_grids(sweep_dir, stage)
    if len(grids) != 1:
        raise ValueError(f"stage {stage!r} has {len(grids)} experiments; use load_result_grids")
    return grids[0]


def trials(sweep_dir: SweepDir, stage: str) -> pd.DataFrame:
    """One row per trial of a stage: its last reported metrics and its config (``config/...``)."""
    frames = [grid.get_dataframe() for grid in load_result_grids(sweep_dir, stage)]
    return pd.concat(frames, ignore_index=True)


def cells(sweep_dir: SweepDir) -> dict[str, str]:
    """A suite's cells → their table column group, from its record; empty for a sweep of one dataset."""
    try:
        record = SweepLayout.at(sweep_dir).read_record()
    except MissingRecordError:  # results copied without their record: a sweep of one dataset
        return {}
    return {cell["name"]: cell["table_group"] for cell in record.get("cells", [])}


def _per_cell(sweep_dir: SweepDir, read) -> pd.DataFrame:
    """``read(layout)`` of a sweep, or of each cell of a suite concatenated with a ``cell`` column."""
    names = cells(sweep_dir)
    if not names:
        return read(SweepLayout.at(sweep_dir))
    root = Location.parse(sweep_dir)
    frames = [read(SweepLayout(root, name)).assign(cell=name) for name in names]
    return pd.concat(frames, ignore_index=True)


def selections(sweep_dir: SweepDir) -> pd.DataFrame:
    """One row per (selection label, seed) (and cell, for a suite): chosen trial, checkpoint, config and
    metrics."""
    return _per_cell(sweep_dir, _selections)


def _selections(layout: SweepLayout) -> pd.DataFrame:
    rows = []
    for path in layout.selections.children():
        if not path.name.endswith(".json"):
            continue
        record = json.loads(path.read_text())
        for seed, member in record["members"].items():
            rows.append(
                {
                    "label": record["label"],
                    "stage": record["stage"],
                    "method": record["method"],
                    "metric": record["metric"],
                    "seed": int(seed),
                    "trial_id": member["trial_id"],
                    "checkpoint": str(layout.resolve(member["checkpoint"])),
                    **{f"config/{k}": v for k, v in member["config"].items()},
                    **member["metrics"],
                }
            )
    return pd.DataFrame(rows)


def ensembles(sweep_dir: SweepDir) -> pd.DataFrame:
    """The tidy ensemble results: one row per method, K, ensemble, subsample size and split (and cell,
    for a suite)."""
    return _per_cell(sweep_dir, lambda layout: pd.read_csv(io.StringIO(layout.ensembles.read_text())))


def evaluated(sweep_dir: SweepDir) -> bool:
    """Whether the sweep's evaluation (every cell's, for a suite) has written its results."""
    names = cells(sweep_dir) or {"": ""}
    return all(SweepLayout(Location.parse(sweep_dir), name).ensembles.is_file() for name in names)


def _optional_csv(path: Location) -> pd.DataFrame:
    """A stored evaluation table, empty where the evaluation did not write it (or wrote no rows)."""
    text = path.read_text() if path.is_file() else ""
    return pd.read_csv(io.StringIO(text)) if text.strip() else pd.DataFrame()


def reliability(sweep_dir: SweepDir) -> pd.DataFrame:
    """Test-set reliability bins per ensemble (at its full sample count): count, confidence, accuracy."""
    return _optional_csv(SweepLayout.at(sweep_dir).reliability)


def score_histograms(sweep_dir: SweepDir) -> pd.DataFrame:
    """Histogram counts of the OOD score (e.g. predictive entropy) per ensemble on the test and OOD sets."""
    return _optional_csv(SweepLayout.at(sweep_dir).score_histograms)
