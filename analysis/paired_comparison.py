"""Which differences in a table are real: each method against a baseline, paired over the ensembles the two
share (the same members: at K = 1 the same seed, and the same seeds at larger K), as the mean difference ±
its standard error over the pairs and how many pairs favour each side."""

from __future__ import annotations

import pandas as pd

from bdlsweep.analysis.tables import METRICS, cell_number, final_test_rows, ordered_rows, row_name

PAIR_KEYS = ["K", "members"]
BASELINE = "map"  # MAP at K = 1, deep ensembles (DE) at larger K


def paired_differences(
    ensembles: pd.DataFrame,
    metrics: tuple[str, ...],
    baseline: str = BASELINE,
    methods: list[str] | None = None,
) -> pd.DataFrame | None:
    """Per (K, method) row other than ``baseline`` and per metric: the mean and standard error over shared
    ensembles of (method − baseline), the number of pairs, and how many favour the method (``better``) and
    the baseline (``worse``) by the metric's direction; None when the baseline was not evaluated or the
    ensembles' members are not recorded."""
    test = final_test_rows(ensembles)
    base = test[test["method"] == baseline]
    if base.empty or "members" not in test:  # results written before ensembles named their members
        return None
    columns = [f"test_{metric}" for metric in metrics if f"test_{metric}" in test]
    merged = test[test["method"] != baseline].merge(
        base[PAIR_KEYS + columns], on=PAIR_KEYS, suffixes=("", "_base")
    )
    rows = {}
    for (size, method), pairs in merged.groupby(["K", "method"], sort=False):
        row = {}
        for column in columns:
            metric = column.removeprefix("test_")
            difference = pairs[column] - pairs[f"{column}_base"]
            sign = {"max": 1, "min": -1}.get(METRICS.get(metric, (metric, None))[1], 0)
            row[(metric, "delta")] = difference.mean()
            row[(metric, "sem")] = difference.sem()
            row[(metric, "pairs")] = difference.notna().sum()
            row[(metric, "better")] = (sign * difference > 0).sum() if sign else float("nan")
            row[(metric, "worse")] = (sign * difference < 0).sum() if sign else float("nan")
        rows[(size, method)] = row
    if not rows:
        return None
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["K", "method"])
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    return ordered_rows(frame, methods or list(dict.fromkeys(test["method"])))


def paired_text(frame: pd.DataFrame, baseline: str = BASELINE) -> pd.DataFrame:
    """The comparison as a reader sees it: per metric ``Δ ± s.e. (better/worse of pairs)`` against the
    baseline at the same K (its row name: MAP at K = 1, DE beyond)."""
    shown = pd.DataFrame(
        index=[
            f"K={size} {row_name(method, size)} − {row_name(baseline, size)}" for size, method in frame.index
        ]
    )
    shown.index.name = "Difference"
    for metric in frame.columns.unique(level=0):
        texts = []
        for delta, sem, pairs, better, worse in frame[metric][
            ["delta", "sem", "pairs", "better", "worse"]
        ].itertuples(index=False):
            text = cell_number(delta) + (f" ± {cell_number(sem)}" if pairs > 1 else "")
            texts.append(text + (f" ({better:.0f}/{worse:.0f} of {pairs:.0f})" if better == better else ""))
        shown[METRICS.get(metric, (metric,))[0]] = texts
    return shown
