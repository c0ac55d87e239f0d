"""Contour images of a posterior surface (log-posterior, log-likelihood, log-prior over the plane
through three checkpoints), the three checkpoints marked, as bnn_hmc draws them."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bdlsweep.analysis.report_plots import png_bytes

LOWEST_QUANTILE = 0.1
PANELS = (
    ("log_posterior", "log-posterior"),
    ("log_likelihood", "log-likelihood"),
    ("log_prior", "log-prior"),
)


def _levels(values: np.ndarray) -> np.ndarray | int:
    """20 contour levels over the top 90% of the values, so a far-off collapse of the density does not
    flatten the region around the checkpoints (lower values share the lowest colour)."""
    low, high = float(np.quantile(values, LOWEST_QUANTILE)), float(values.max())
    return np.linspace(low, high, 20) if high > low else 20


def plot_surface(grid: pd.DataFrame, anchors: pd.DataFrame, temperature: float) -> bytes:
    """PNG of three filled contour panels over (a, b) with contour lines; checkpoints as numbered dots."""
    table = {column: grid.pivot(index="b", columns="a", values=column) for column, _ in PANELS}
    figure = Figure(figsize=(15, 4.4), layout="constrained")
    for axes, (column, title) in zip(figure.subplots(1, 3), PANELS, strict=True):
        values = table[column]
        a, b, z = values.columns.to_numpy(), values.index.to_numpy(), values.to_numpy()
        levels = _levels(z)
        filled = axes.contourf(a, b, z, levels=levels, alpha=0.6, extend="min")
        axes.contour(a, b, z, levels=levels, linewidths=0.6, colors="k")
        figure.colorbar(filled, ax=axes)
        axes.scatter(anchors["a"], anchors["b"], s=140, c="red", edgecolors="black", zorder=3)
        for number, (x, y) in enumerate(zip(anchors["a"], anchors["b"], strict=True), start=1):
            axes.annotate(str(number), (x, y), ha="center", va="center", fontsize=8, color="white", zorder=4)
        axes.set_title(f"{title} (T = {temperature:g})")
        axes.set_xlabel("a (checkpoint 1 → 2)")
        axes.set_ylabel("b (towards checkpoint 3)")
    return png_bytes(figure)
