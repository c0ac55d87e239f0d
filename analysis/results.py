"""Stored results as pandas: a stage's Tune ``ResultGrid`` and trials, selections, ensemble results."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

ENSEMBLES_FILE = Path("evaluation") / "ensembles.csv"


def load_result_grid(sweep_dir: str | Path, stage: str):
    """The Ray Tune ``ResultGrid`` of one stage of a sweep (no trainable needed)."""
    from ray.tune import ExperimentAnalysis, ResultGrid

    return ResultGrid(ExperimentAnalysis(str(Path(sweep_dir).resolve() / stage)))


def trials(sweep_dir: str | Path, stage: str) -> pd.DataFrame:
    """One row per trial of a stage: its last reported metrics and its config (``config/...``)."""
    return load_result_grid(sweep_dir, stage).get_dataframe()


def selections(sweep_dir: str | Path) -> pd.DataFrame:
    """One row per (selection label, seed): chosen trial, checkpoint, config and metrics."""
    rows = []
    for path in sorted((Path(sweep_dir) / "selections").glob("*.json")):
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
                    "checkpoint": member["checkpoint"],
                    **{f"config/{k}": v for k, v in member["config"].items()},
                    **member["metrics"],
                }
            )
    return pd.DataFrame(rows)


def ensembles(sweep_dir: str | Path) -> pd.DataFrame:
    """The tidy ensemble results: one row per method, K, ensemble, subsample size and split."""
    return pd.read_csv(Path(sweep_dir) / ENSEMBLES_FILE)
