"""The report's per-method diagnostics as PNG bytes: reliability diagrams and histograms of the OOD score
on in-distribution vs OOD data, each pooled over the ensembles of one size K."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bdlsweep.analysis.report_plots import PANEL_SIZE, png_bytes
from bdlsweep.trainables.registry import display_name


def _method_panels(methods: list[str]) -> tuple[Figure, np.ndarray]:
    figure = Figure(figsize=(PANEL_SIZE[0] * len(methods), PANEL_SIZE[1] + 0.4), layout="tight")
    return figure, figure.subplots(1, len(methods), squeeze=False)[0]


def pooled_bins(bins: pd.DataFrame) -> pd.DataFrame:
    """Reliability bins of several ensembles pooled: counts added, confidence and accuracy count-weighted."""
    sums = {name: bins[name].fillna(0) * bins["count"] for name in ("confidence", "accuracy")}
    columns = ["count", "confidence", "accuracy"]
    pooled = bins.assign(**sums).groupby(["bin", "lower", "upper"], as_index=False)[columns].sum()
    filled = pooled["count"].where(pooled["count"] > 0)
    return pooled.assign(confidence=pooled["confidence"] / filled, accuracy=pooled["accuracy"] / filled)


def pooled_ece(pooled: pd.DataFrame) -> float:
    """The ECE of pooled bins: count-weighted mean of |accuracy − confidence|."""
    gaps = (pooled["accuracy"] - pooled["confidence"]).abs().fillna(0)
    return float((gaps * pooled["count"]).sum() / pooled["count"].sum())


def plot_reliability(reliability: pd.DataFrame) -> bytes | None:
    """Per method: accuracy per confidence bin of single models (bars) and of the largest ensembles (line),
    with the diagonal of perfect calibration and each one's ECE; None without reliability bins."""
    if reliability.empty:
        return None
    methods = list(dict.fromkeys(reliability["method"]))
    figure, axes = _method_panels(methods)
    for axis, method in zip(axes, methods, strict=True):
        rows = reliability[reliability["method"] == method]
        axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
        if (rows["K"] == 1).any():
            single = pooled_bins(rows[rows["K"] == 1])
            axis.bar(single["lower"], single["accuracy"].fillna(0), width=single["upper"] - single["lower"],
                     align="edge", alpha=0.6, edgecolor="black", linewidth=0.5,
                     label=f"K = 1 (ECE {pooled_ece(single):.3f})")  # fmt: skip
        largest = int(rows["K"].max())
        if largest > 1:
            pooled = pooled_bins(rows[rows["K"] == largest]).dropna(subset=["accuracy"])
            axis.plot(pooled["confidence"], pooled["accuracy"], marker="o", ms=3, color="C3",
                      label=f"K = {largest} (ECE {pooled_ece(pooled):.3f})")  # fmt: skip
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1)
        axis.set_title(display_name(method))
        axis.set_xlabel("confidence")
        axis.set_ylabel("accuracy")
        axis.legend(fontsize="small", loc="upper left")
    return png_bytes(figure)


def mean_auroc(ensembles: pd.DataFrame, method: str, size: int, ood_set: str) -> float:
    """Mean ``ood_auroc`` over the ensembles of one method and size on one OOD set, at full sample count."""
    rows = ensembles[(ensembles["split"] == "ood") & (ensembles["method"] == method)]
    rows = rows[(rows["K"] == size) & (rows["ood_set"] == ood_set)]
    rows = rows[rows["num_samples"] == rows.groupby("ensemble_id")["num_samples"].transform("max")]
    return float(rows["ood_auroc"].mean())


def plot_ood_histograms(histograms: pd.DataFrame, ensembles: pd.DataFrame) -> bytes | None:
    """Per method: density of the OOD score on the test set and on each OOD set, pooled over the largest
    ensembles, with each OOD set's mean AUROC in the legend; None without OOD sets."""
    if histograms.empty or not (histograms["split"] == "ood").any():
        return None
    histograms = histograms.fillna({"ood_set": ""})
    methods = list(dict.fromkeys(histograms["method"]))
    figure, axes = _method_panels(methods)
    for axis, method in zip(axes, methods, strict=True):
        rows = histograms[histograms["method"] == method]
        largest = int(rows["K"].max())
        rows = rows[rows["K"] == largest]
        for (split, ood_set), counts in rows.groupby(["split", "ood_set"], sort=False):
            pooled = counts.groupby(["bin", "lower", "upper"], as_index=False)["count"].sum()
            edges = np.r_[pooled["lower"].to_numpy(), pooled["upper"].to_numpy()[-1]]
            density = pooled["count"].to_numpy() / max(pooled["count"].sum(), 1) / np.diff(edges)
            if split == "test":
                label = "test (in-distribution)"
            else:
                label = f"{ood_set} (AUROC {mean_auroc(ensembles, method, largest, ood_set):.3f})"
            filled = split == "test"
            axis.stairs(density, edges, fill=filled, alpha=0.5 if filled else 1.0, label=label)
        if rows["lower"].min() > 0 and rows["upper"].max() > 100 * rows["lower"].min():
            axis.set_xscale("log")  # log-spaced bins (e.g. predictive variance)
        axis.set_title(f"{display_name(method)}, K = {largest}")
        axis.set_xlabel(rows["score"].iloc[0])
        axis.set_ylabel("density")
        axis.legend(fontsize="small")
    return png_bytes(figure)
