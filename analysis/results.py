"""Stored results as pandas: a stage's Tune ``ResultGrid`` and trials, selections, ensemble results."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bdlsweep.storage.layout import MissingRecordError, SweepLayout
from bdlsweep.storage.locations import Location
from bdlsweep.storage.stored_files import DamagedFileError, read_csv, read_json

SweepDir = str | Path | Location
ENSEMBLE_KEYS = ("method", "K", "ensemble_id", "num_samples", "split")  # every row of ensembles.csv
SPLIT_KEYS = {"shift": ("corruption", "severity"), "ood": ("ood_set",)}  # and the rows of these splits


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
        if path.name.endswith(".json"):
            rows += _selection_rows(layout, path)
    return pd.DataFrame(rows)


def selection_record(path: Location) -> dict:
    """A selection file as stored, checked to hold what it was written with (``DamagedFileError`` if not)."""
    record = read_json(path)
    fields = {"label": str, "stage": str, "method": str, "metric": str, "members": dict}
    member_fields = {"trial_id": str, "checkpoint": str, "config": dict, "metrics": dict}
    for key, kind in fields.items():
        if not isinstance(record.get(key), kind):
            raise DamagedFileError(path, f"not a selection record ({key} is not a {kind.__name__})")
    for seed, member in record["members"].items():
        if not (seed.isdigit() and isinstance(member, dict)):
            raise DamagedFileError(path, f"not a selection record (member {seed!r})")
        for key, kind in member_fields.items():
            if not isinstance(member.get(key), kind):
                raise DamagedFileError(path, f"not a selection record (members.{seed}.{key})")
    return record


def _selection_rows(layout: SweepLayout, path: Location) -> list[dict]:
    """One row per seed of a selection file."""
    record = selection_record(path)
    return [
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
        for seed, member in record["members"].items()
    ]


def ensembles(sweep_dir: SweepDir) -> pd.DataFrame:
    """The tidy ensemble results: one row per method, K, ensemble, subsample size and split (and cell,
    for a suite)."""
    return _per_cell(sweep_dir, lambda layout: _ensemble_rows(layout.ensembles))


def _ensemble_rows(path: Location) -> pd.DataFrame:
    """``ensembles.csv``, checked to be whole: every row keyed, and the columns each split's rows name
    their set by (a file cut short loses columns from its header or values from its last row)."""
    frame = read_csv(path, ENSEMBLE_KEYS)
    if frame.empty:  # an evaluation writes a row per method, K, ensemble and split at least
        raise DamagedFileError(path, "holds no rows")
    if frame[list(ENSEMBLE_KEYS)].isna().any(axis=None):
        raise DamagedFileError(path, "a row without its method, K, ensemble, samples or split")
    for split, columns in SPLIT_KEYS.items():
        rows = frame[frame["split"] == split]
        missing = [column for column in columns if column not in frame or rows[column].isna().any()]
        if len(rows) and missing:
            raise DamagedFileError(path, f"{split} rows without {', '.join(missing)}")
    return frame


def evaluated(sweep_dir: SweepDir) -> bool:
    """Whether the sweep's evaluation (every cell's, for a suite) has written its results."""
    names = cells(sweep_dir) or {"": ""}
    return all(SweepLayout(Location.parse(sweep_dir), name).ensembles.is_file() for name in names)


def _optional_csv(path: Location) -> pd.DataFrame:
    """A stored evaluation table, empty where the evaluation did not write it (or wrote no rows)."""
    return read_csv(path) if path.is_file() else pd.DataFrame()


def reliability(sweep_dir: SweepDir) -> pd.DataFrame:
    """Test-set reliability bins per ensemble (at its full sample count): count, confidence, accuracy."""
    return _optional_csv(SweepLayout.at(sweep_dir).reliability)


def score_histograms(sweep_dir: SweepDir) -> pd.DataFrame:
    """Histogram counts of the OOD score (e.g. predictive entropy) per ensemble on the test and OOD sets."""
    return _optional_csv(SweepLayout.at(sweep_dir).score_histograms)
