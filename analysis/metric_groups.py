"""The metric groups TorchUncertainty's tutorial prints, as one table of rows K × method: classification,
calibration, OOD detection (mean over the OOD sets), selective classification, complexity, and
closeness to a reference posterior where one was given."""

from __future__ import annotations

import pandas as pd

from bdlsweep.analysis.tables import final_test_rows, ordered_rows

GROUPS = {
    "Classification": ("acc", "brier", "nll", "entropy"),
    "Calibration": ("ece", "aece"),
    "OOD": ("auroc", "aupr_out", "fpr95"),
    "Selective": ("aurc", "augrc", "cov_at_5_risk", "risk_at_80_cov"),
    "Complexity": ("params", "flops"),
    "Reference": ("agreement", "total_variation"),  # with evaluate.reference: closeness to its predictive
}
OOD_GROUP = "OOD"
KEYS = ["method", "K", "ensemble_id"]


def _per_ensemble(ensembles: pd.DataFrame) -> pd.DataFrame:
    """One row per ensemble at its largest sample count: test metrics, and OOD metrics averaged over
    the OOD sets, named by metric without their split prefix."""
    test = final_test_rows(ensembles)
    columns = [m for group, names in GROUPS.items() if group != OOD_GROUP for m in names]
    frame = test[KEYS + [f"test_{m}" for m in columns if f"test_{m}" in test]]
    frame = frame.rename(columns=lambda c: c.removeprefix("test_"))
    ood = ensembles[ensembles["split"] == "ood"]
    ood_columns = [f"ood_{m}" for m in GROUPS[OOD_GROUP] if f"ood_{m}" in ood]
    if len(ood) and ood_columns:
        largest = ood.groupby(KEYS)["num_samples"].transform("max")
        ood = ood[ood["num_samples"] == largest].groupby(KEYS)[ood_columns].mean().reset_index()
        frame = frame.merge(ood.rename(columns=lambda c: c.removeprefix("ood_")), on=KEYS, how="left")
    return frame


def metric_groups_table(ensembles: pd.DataFrame, methods: list[str] | None = None) -> pd.DataFrame | None:
    """Mean and standard error over ensembles per (K, method) row and (group, metric) column, in the
    ``tables`` layout; None for results without classification metrics."""
    if "test_acc" not in ensembles.columns:
        return None
    frame = _per_ensemble(ensembles)
    present = [(group, m) for group, names in GROUPS.items() for m in names if m in frame]
    stats = frame.groupby(["K", "method"])[[m for _, m in present]].agg(["mean", "sem"])
    stats.columns = pd.MultiIndex.from_tuples(
        [(group, m, stat) for group, m in present for stat in ("mean", "sem")]
    )
    return ordered_rows(stats, methods or list(dict.fromkeys(frame["method"])))
