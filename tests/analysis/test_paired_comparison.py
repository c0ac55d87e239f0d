"""Paired differences against MAP / DE: by hand over the ensembles two methods share, each side's wins
counted by the metric's direction, unpaired ensembles left out."""

import numpy as np
import pandas as pd
import pytest

from bdlsweep.analysis.paired_comparison import paired_differences, paired_text


def _row(method, size, members, acc, ece, samples=10):
    return {"method": method, "K": size, "ensemble_id": 1, "members": members, "num_samples": samples,
            "split": "test", "test_acc": acc, "test_ece": ece}  # fmt: skip


ROWS = [
    _row("map", 1, "1", 0.90, 0.05), _row("map", 1, "2", 0.80, 0.04), _row("map", 1, "3", 0.85, 0.03),
    _row("swag", 1, "1", 0.92, 0.06), _row("swag", 1, "2", 0.79, 0.02), _row("swag", 1, "3", 0.88, 0.01),
    _row("swag", 1, "3", 0.10, 0.90, samples=5),  # a smaller sample count: not the ensemble's final row
    _row("swag", 1, "4", 0.99, 0.00),  # no MAP of seed 4: unpaired
    _row("map", 2, "1,2", 0.91, 0.02), _row("swag", 2, "1,2", 0.93, 0.03), _row("swag", 2, "2,3", 0.5, 0.5),
]  # fmt: skip


def test_differences_are_paired_over_shared_members_with_wins_by_the_metrics_direction():
    frame = paired_differences(pd.DataFrame(ROWS), ("acc", "ece"))
    assert list(frame.index) == [(1, "swag"), (2, "swag")]
    accuracy = np.array([0.92 - 0.90, 0.79 - 0.80, 0.88 - 0.85])
    single = frame.loc[(1, "swag")]
    assert single[("acc", "delta")] == pytest.approx(accuracy.mean())
    assert single[("acc", "sem")] == pytest.approx(accuracy.std(ddof=1) / np.sqrt(3))
    assert (single[("acc", "pairs")], single[("acc", "better")], single[("acc", "worse")]) == (3, 2, 1)
    calibration = np.array([0.06 - 0.05, 0.02 - 0.04, 0.01 - 0.03])  # lower ECE is better
    assert single[("ece", "delta")] == pytest.approx(calibration.mean())
    assert (single[("ece", "better")], single[("ece", "worse")]) == (2, 1)
    pair = frame.loc[(2, "swag")]
    assert pair[("acc", "pairs")] == 1 and pair[("acc", "delta")] == pytest.approx(0.02)
    text = paired_text(frame)
    assert list(text.index) == ["K=1 SWAG − MAP", "K=2 MultiSWAG − DE"]
    assert (
        text.loc["K=1 SWAG − MAP", "Acc"].endswith("(2/1 of 3)") and "±" in text.loc["K=1 SWAG − MAP", "Acc"]
    )
    assert text.loc["K=2 MultiSWAG − DE", "Acc"] == "0.020 (1/0 of 1)"  # one pair: no standard error


def test_without_the_baseline_there_is_nothing_to_pair():
    only_swag = pd.DataFrame([row for row in ROWS if row["method"] != "map"])
    assert paired_differences(only_swag, ("acc",)) is None
