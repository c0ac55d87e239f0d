"""Does ASHA keep the papers' selections? A SWAG learning-rate grid run whole and with early stopping.

Run: ``python benchmarks/early_stopping.py [--workloads digits_mlp lenet5_mnist diabetes] [--seeds 5]``.
Each workload is a MAP stage and a SWAG stage over the paper's 21 learning rates (``swag_lr_21``),
run twice into separate storage folders: the paper's protocol (every trial runs all its epochs) and
``scheduler: {name: asha, grace_epochs, reduction_factor: 3}``. Workloads: the quickstart's digits MLP;
LeNet-5 on MNIST-format files (scikit-learn's digits resized to 28×28 and written as IDX files, the
format torchvision publishes MNIST in); and an MLP regression on scikit-learn's diabetes set, UCI-style.
Per workload it prints one JSON line: the share of SWAG epochs ASHA saved, the share of seeds whose
selected learning rate is the same, and the test ELPD of each seed's selected SWAG (K = 1), full grid
vs ASHA, as mean ± standard error over seeds.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bdlsweep.analysis import results
from bdlsweep.sweeps.cluster.ray_session import ray_for
from bdlsweep.sweeps.pipeline import run_sweep
from bdlsweep.sweeps.spec.loading import load_spec
from bdlsweep.trainables.data.digits import bundled_digits

SWEEPS = Path(__file__).parents[1] / "sweeps"
SWAG_GRID = "stages.swag.search.lr=swag_lr_21"


@dataclass(frozen=True)
class Workload:
    """A sweep file, the overrides that make it a MAP → SWAG (21 learning rates) sweep, and ASHA's grace."""

    sweep: str
    overrides: tuple[str, ...]
    grace_epochs: int


def _swag_stage(epochs: int, rank: int, batch_size: int) -> str:
    return (
        f"stages.swag={{method: swag, from: map, epochs: {epochs}, rank: {rank}, batch_size: {batch_size},"
        " val_samples: 8}"
    )


KEEP_MAP_AND_SWAG = ("~stages.llla", "~stages.laplace_nf", "~stages.mc_dropout")  # of the quickstarts
WORKLOADS = {
    "digits_mlp": Workload(
        "quickstart.yaml", (*KEEP_MAP_AND_SWAG, "stages.swag.epochs=18", "stages.swag.val_samples=8"), 2
    ),
    "lenet5_mnist": Workload(
        "mnist_lenet_ensembles.yaml",
        (
            "dataset.ood=[]",
            "evaluate.splits=[test]",
            "dataset.val_size=300",
            "~stages.packed",
            "stages.map.epochs=5",
            _swag_stage(9, 10, 64),
        ),
        1,
    ),
    "diabetes": Workload(
        "regression_quickstart.yaml",
        (*KEEP_MAP_AND_SWAG, "stages.swag.epochs=18", "stages.swag.val_samples=8"),
        2,
    ),
}


def _write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file of unsigned bytes (magic 0x0000 08 <dims>, big-endian sizes, then the data)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_digits_as_mnist(root: Path, test: int = 297) -> Path:
    """scikit-learn's digits resized to 28×28 (bilinear, 0..255) as MNIST's raw IDX files under ``root``."""
    images, labels = bundled_digits()
    resized = torch.nn.functional.interpolate(
        torch.from_numpy(images.astype(np.float32) / 16.0)[:, None], size=28, mode="bilinear"
    )[:, 0]
    pixels = (resized.clamp(0, 1) * 255).round().numpy().astype(np.uint8)
    order = np.random.default_rng(0).permutation(len(labels))
    folder = root / "MNIST" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, rows in (("t10k", order[:test]), ("train", order[test:])):
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", pixels[rows])
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels[rows])
    return root


def _run(workload: Workload, seeds: int, storage: Path, data_dir: Path, grace: int | None) -> dict:
    """Run one variant (ASHA with ``grace`` epochs, or the whole grid when None); return its SWAG
    epochs, selected learning rate and test ELPD per seed."""
    overrides = [
        *workload.overrides,
        SWAG_GRID,
        f"seeds={list(range(1, seeds + 1))}",
        f"storage={storage}",
        "evaluate.methods=[swag]",
        "evaluate.ensemble_sizes=[1]",
        "evaluate.num_posterior_samples=20",
        "evaluate.subsample_sizes=[20]",
        "evaluate.splits=[test]",
    ]
    if workload.sweep == "mnist_lenet_ensembles.yaml":
        overrides.append(f"data_dir={data_dir}")
    if grace is not None:
        overrides.append(f"stages.swag.scheduler={{name: asha, grace_epochs: {grace}, reduction_factor: 3}}")
    run_sweep(load_spec(SWEEPS / workload.sweep, overrides))
    trials = results.trials(storage, "swag")
    chosen = results.selections(storage)
    chosen = chosen[chosen["label"] == "swag"].set_index("seed")["config/lr"]
    frame = results.ensembles(storage)
    test = frame[(frame["split"] == "test") & (frame["method"] == "swag") & (frame["K"] == 1)]
    test = test[test["num_samples"] == test["num_samples"].max()]
    return {
        "epochs": int(trials["training_iteration"].sum()),
        "lr": {int(seed): float(lr) for seed, lr in chosen.items()},
        "test_elpd": {
            int(ids): float(elpd) for ids, elpd in zip(test["members"], test["test_elpd"], strict=True)
        },
    }


def _mean_se(values: list[float]) -> str:
    array = np.asarray(values)
    return f"{array.mean():.4f} ± {array.std(ddof=1) / np.sqrt(len(array)):.4f}"


def compare(name: str, seeds: int, root: Path, data_dir: Path, grace: int | None = None) -> dict:
    """The workload's full grid against ASHA (with ``grace`` epochs, or the workload's): epochs saved,
    same selections, test ELPD of each."""
    workload = WORKLOADS[name]
    grace = grace or workload.grace_epochs
    full = _run(workload, seeds, root / f"{name}_full", data_dir, grace=None)
    asha = _run(workload, seeds, root / f"{name}_asha", data_dir, grace=grace)
    same = [seed for seed in full["lr"] if full["lr"][seed] == asha["lr"].get(seed)]
    full_elpd = [full["test_elpd"][seed] for seed in sorted(full["test_elpd"])]
    asha_elpd = [asha["test_elpd"][seed] for seed in sorted(full["test_elpd"])]
    difference = np.asarray(asha_elpd) - np.asarray(full_elpd)
    return {
        "workload": name,
        "seeds": seeds,
        "grace_epochs": grace,
        "swag_epochs_full": full["epochs"],
        "swag_epochs_asha": asha["epochs"],
        "epochs_saved": 1 - asha["epochs"] / full["epochs"],
        "same_selection": len(same) / len(full["lr"]),
        "lr_full": full["lr"],
        "lr_asha": asha["lr"],
        "test_elpd_full": _mean_se(full_elpd),
        "test_elpd_asha": _mean_se(asha_elpd),
        "test_elpd_asha_minus_full": _mean_se(difference.tolist()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--grace-epochs", type=int, help="ASHA's grace for every workload (default: each its own)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")  # the sweeps' progress lines
    with tempfile.TemporaryDirectory() as folder, ray_for():
        root = Path(folder)
        data_dir = write_digits_as_mnist(root / "data")
        for name in args.workloads:
            print(
                json.dumps(compare(name, args.seeds, root / "runs", data_dir, args.grace_epochs)), flush=True
            )


if __name__ == "__main__":
    main()
