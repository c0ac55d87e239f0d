"""The report's plots as PNG bytes: metrics over ensemble size, posterior samples and shift severity, and
tuning curves (validation ELPD over a searched hyper-parameter, one line per seed)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

from bdlsweep.analysis.tables import METRICS, default_columns, final_test_rows
from bdlsweep.trainables.registry import display_name

PANEL_SIZE = (3.4, 2.8)
MAX_SAMPLE_TICKS = 8  # sample counts a log axis labels one by one before it falls back to 1-2-5 ticks


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes (100 dpi)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def report_metrics(ensembles: pd.DataFrame) -> tuple[str, ...]:
    """The metrics the report shows: the main table's (Acc/ELPD/ECE for classification, ELPD/RMSE/90%
    coverage otherwise, and the closeness to a reference posterior where it was measured)."""
    return default_columns(ensembles)


def _panels(metrics: tuple[str, ...]) -> tuple[Figure, np.ndarray]:
    figure = Figure(figsize=(PANEL_SIZE[0] * len(metrics), PANEL_SIZE[1]), layout="tight")
    return figure, figure.subplots(1, len(metrics), squeeze=False)[0]


def method_colors(ensembles: pd.DataFrame) -> dict[str, str]:
    """One colour per method of the sweep, in the order its results list them, so a method keeps its
    colour in every plot (including plots that show only some methods)."""
    return {method: f"C{index % 10}" for index, method in enumerate(ensembles["method"].unique())}


def _lines(
    figure: Figure,
    axes: np.ndarray,
    frame: pd.DataFrame,
    x: str,
    prefix: str,
    metrics,
    xlabel: str,
    colors: dict[str, str],
):
    """Mean ± standard error of ``<prefix><metric>`` over ``x``, one line per method (in its colour), one
    panel per metric; the legend outside the panels, right of the last."""
    for axis, metric in zip(axes, metrics, strict=True):
        column = f"{prefix}{metric}"
        for method, rows in frame.groupby("method", sort=False):
            stats = rows.groupby(x)[column].agg(["mean", "sem"]).fillna({"sem": 0.0})
            axis.errorbar(stats.index, stats["mean"], yerr=stats["sem"], marker="o", ms=3, capsize=2,
                          color=colors[method], label=display_name(method))  # fmt: skip
        axis.set_xlabel(xlabel)
        axis.set_ylabel(METRICS.get(metric, (metric,))[0])
    axes[-1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    return png_bytes(figure)


def plot_metric_vs_size(ensembles: pd.DataFrame) -> bytes:
    """Test metrics over the ensemble size K (each ensemble at its largest number of samples)."""
    metrics = report_metrics(ensembles)
    figure, axes = _panels(metrics)
    for axis in axes:
        axis.set_xticks(sorted(ensembles["K"].unique()))
    rows = final_test_rows(ensembles)
    return _lines(figure, axes, rows, "K", "test_", metrics, "ensemble size K", method_colors(ensembles))


def plot_metric_vs_samples(ensembles: pd.DataFrame) -> bytes | None:
    """Test metrics of single models (K = 1) over the number of posterior samples; None without subsamples."""
    test = ensembles[(ensembles["split"] == "test") & (ensembles["K"] == 1)]
    varied = test.groupby("method")["num_samples"].nunique()
    test = test[test["method"].isin(varied[varied > 1].index)]
    if test.empty:
        return None
    metrics = report_metrics(ensembles)
    figure, axes = _panels(metrics)
    counts = sorted(test["num_samples"].unique())
    for axis in axes:  # ticks at the sample counts (or at 1, 2, 5 × 10^k for many), plain, none between
        axis.set_xscale("log")
        axis.xaxis.set_major_locator(
            FixedLocator(counts) if len(counts) <= MAX_SAMPLE_TICKS else LogLocator(subs=(1.0, 2.0, 5.0))
        )
        axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.xaxis.set_minor_formatter(NullFormatter())
    colors = method_colors(ensembles)
    return _lines(figure, axes, test, "num_samples", "test_", metrics, "posterior samples (K = 1)", colors)


def plot_metric_vs_severity(ensembles: pd.DataFrame) -> bytes | None:
    """Shifted-data metrics of single models over severity (mean over corruptions); None without shifts."""
    if "severity" not in ensembles.columns:
        return None
    shift = ensembles[(ensembles["split"] == "shift") & (ensembles["K"] == 1)]
    if shift.empty:
        return None
    largest = shift.groupby(["method", "ensemble_id"])["num_samples"].transform("max")
    shift = shift[shift["num_samples"] == largest]
    metrics = tuple(m for m in report_metrics(ensembles) if f"shift_{m}" in shift.columns)
    figure, axes = _panels(metrics)
    colors = method_colors(ensembles)
    return _lines(figure, axes, shift, "severity", "shift_", metrics, "shift severity (K = 1)", colors)


def plot_tuning_curve(trials: pd.DataFrame, column: str, label: str, metric: str = "val_elpd") -> bytes:
    """``metric`` of each trial over the hyper-parameter ``column`` (a ``config/...`` column), a line per
    seed with its best point marked; log x when the values span more than a factor of 20."""
    figure = Figure(figsize=(4.6, 3.2), layout="tight")
    axis = figure.subplots()
    finite = trials[np.isfinite(trials[metric].to_numpy(dtype=float))]
    for seed, rows in finite.sort_values(column).groupby("config/seed"):
        line = axis.plot(rows[column], rows[metric], marker="o", ms=3, label=f"seed {seed}")[0]
        best = rows.loc[rows[metric].idxmax()]
        axis.plot(best[column], best[metric], marker="*", ms=11, color=line.get_color())
    values = trials[column].to_numpy(dtype=float)
    if (values > 0).all() and values.max() > 20 * values.min():
        axis.set_xscale("log")
    axis.set_xlabel(label)
    axis.set_ylabel(metric)
    axis.legend(fontsize="small", ncol=2)
    return png_bytes(figure)
