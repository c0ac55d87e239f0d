"""Predictive mean ± 2 std over a 1-D input, one panel per method, with the training points (PNG)."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bdlsweep.trainables.registry import display_name

PANEL_SIZE = (3.2, 2.6)


def plot_predictive_curves(
    curves: pd.DataFrame, train_x: np.ndarray, train_y: np.ndarray, columns: int = 3
) -> bytes:
    """A PNG of each method's curve (columns method, K, x, mean, std), in the order they appear."""
    methods = list(dict.fromkeys(curves["method"]))
    columns = min(columns, len(methods))
    rows = math.ceil(len(methods) / columns)
    figure = Figure(figsize=(PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows), layout="tight")
    axes = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
    for axis, method in zip(axes.flat, methods, strict=False):
        curve = curves[curves["method"] == method].sort_values("x")
        x, mean, std = curve["x"].to_numpy(), curve["mean"].to_numpy(), curve["std"].to_numpy()
        axis.fill_between(x, mean - 2 * std, mean + 2 * std, alpha=0.3, label="± 2 std")
        axis.plot(x, mean, label="mean")
        axis.scatter(train_x, train_y, s=6, color="black", zorder=3, label="training data")
        size = int(curve["K"].iloc[0])
        axis.set_title(f"{display_name(method, size)} (K={size})" if size > 1 else display_name(method))
    for axis in axes.flat[len(methods) :]:
        axis.set_visible(False)
    axes.flat[0].legend(fontsize="small")
    figure.supxlabel("x")
    figure.supylabel("y")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()
