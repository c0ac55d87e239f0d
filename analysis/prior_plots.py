"""Figures of the prior studies: sample functions over x, top-class probability histograms, class
correlation diagrams and clean-vs-shifted correlations, one panel per prior variance or corruption."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bdlsweep.analysis.report_plots import png_bytes

SHOWN_FUNCTIONS = 20


def _panels(count: int, height: float = 3.4) -> tuple[Figure, list]:
    figure = Figure(figsize=(3.6 * count, height), layout="constrained")
    axes = figure.subplots(1, count, squeeze=False)[0]
    return figure, list(axes)


def plot_prior_functions(functions: pd.DataFrame, train_x: np.ndarray, train_y: np.ndarray) -> bytes:
    """Up to 20 prior sample functions per variance over x, the training points as dots."""
    variances = list(dict.fromkeys(functions["variance"]))
    figure, axes = _panels(len(variances))
    for ax, variance in zip(axes, variances, strict=True):
        shown = functions[(functions["variance"] == variance) & (functions["sample"] < SHOWN_FUNCTIONS)]
        for _, sample in shown.groupby("sample"):
            ax.plot(sample["x"], sample["f"], linewidth=0.8, alpha=0.7)
        ax.scatter(train_x, train_y, s=6, c="black", zorder=3)
        ax.set_title(f"prior variance {variance:g}")
        ax.set_xlabel("x")
    axes[0].set_ylabel("f(x)")
    return png_bytes(figure)


def plot_top_probabilities(histograms: pd.DataFrame) -> bytes:
    """Per variance, the histogram of the largest class probability over inputs and weight samples."""
    variances = list(dict.fromkeys(histograms["variance"]))
    figure, axes = _panels(len(variances))
    for ax, variance in zip(axes, variances, strict=True):
        rows = histograms[histograms["variance"] == variance]
        share = rows["count"] / rows["count"].sum()
        ax.bar(rows["lower"], share, width=rows["upper"] - rows["lower"], align="edge", edgecolor="black")
        ax.set_title(f"prior variance {variance:g}")
        ax.set_xlabel("top-class probability")
    axes[0].set_ylabel("share of predictions")
    return png_bytes(figure)


def plot_class_correlations(diagrams: pd.DataFrame) -> bytes:
    """Per variance, the class × class mean logit correlation as a heat map (one scale for all panels,
    from the lowest correlation to 1)."""
    variances = list(dict.fromkeys(diagrams["variance"]))
    figure, axes = _panels(len(variances), height=3.6)
    lowest = min(float(np.nanmin(diagrams["correlation"])), 0.99)
    image = None
    for ax, variance in zip(axes, variances, strict=True):
        table = diagrams[diagrams["variance"] == variance].pivot(
            index="class_i", columns="class_j", values="correlation"
        )
        image = ax.imshow(np.asarray(table, dtype=float), vmin=lowest, vmax=1, cmap="viridis")
        ax.set_title(f"prior variance {variance:g}")
        ax.set_xlabel("class")
    axes[0].set_ylabel("class")
    figure.colorbar(image, ax=axes, shrink=0.8, label="mean logit correlation")
    return png_bytes(figure)


def plot_shift_correlations(shifted: pd.DataFrame) -> bytes:
    """Per corruption, the mean correlation of clean and corrupted logits over severity, per variance."""
    corruptions = list(dict.fromkeys(shifted["corruption"]))
    figure, axes = _panels(len(corruptions))
    for ax, corruption in zip(axes, corruptions, strict=True):
        for variance, rows in shifted[shifted["corruption"] == corruption].groupby("variance", sort=False):
            ax.plot(rows["severity"], rows["correlation"], marker="o", label=f"variance {variance:g}")
        ax.set_title(corruption)
        ax.set_xlabel("severity")
        ax.set_ylim(-0.05, 1.05)
    axes[0].set_ylabel("correlation with the clean image")
    axes[0].legend()
    return png_bytes(figure)
