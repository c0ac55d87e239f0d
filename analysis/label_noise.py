"""The label-corruption study in a report: training and test accuracy of the trials of a stage that
searched ``label_noise`` (the share of randomly relabelled training labels), per fraction."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from bdlsweep.analysis.report_plots import png_bytes

FRACTION = "config/label_noise"
COLUMNS = {"train_acc": "train accuracy (relabelled)", "test_acc": "test accuracy"}


def label_noise_table(trials: pd.DataFrame) -> pd.DataFrame | None:
    """Mean and standard error over seeds of training and test accuracy per relabelled fraction; None
    when the trials did not vary ``label_noise`` or did not report the fit (``fit_study: true``)."""
    if FRACTION not in trials or trials[FRACTION].nunique() < 2 or not set(COLUMNS) <= set(trials):
        return None
    stats = trials.groupby(FRACTION)[list(COLUMNS)].agg(["mean", "sem", "count"])
    stats.columns = [f"{metric}_{stat}" for metric, stat in stats.columns]
    return stats.reset_index().rename(columns={FRACTION: "label_noise"})


def plot_label_noise(table: pd.DataFrame, stage: str) -> bytes:
    """Training and test accuracy (mean ± s.e. over seeds) over the relabelled fraction."""
    figure = Figure(figsize=(5.5, 3.8), layout="constrained")
    axes = figure.subplots()
    for metric, label in COLUMNS.items():
        axes.errorbar(
            table["label_noise"],
            table[f"{metric}_mean"],
            yerr=table[f"{metric}_sem"],
            marker="o",
            label=label,
        )
    axes.set_xlabel("share of training labels relabelled at random")
    axes.set_ylabel("accuracy")
    axes.set_ylim(0, 1.02)
    axes.set_title(f"Fitting random labels: stage {stage}")
    axes.legend(loc="lower left")
    return png_bytes(figure)
