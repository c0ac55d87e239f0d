"""Offline regression sets: scikit-learn's diabetes, a 1-D set with a gap, and Wilson & Izmailov's
(2020) 1-D file.

Inputs and targets are standardised with training statistics. Shift: test inputs with Gaussian
noise at severities 1–5. OOD: inputs far from the training data (shifted by several standard
deviations, or inside and beyond the 1-D gap).
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import torch

from bdlsweep.trainables.data.splits import DatasetSplits, InputCurve, LabelledSet

INPUT_NOISE_STD = (0.1, 0.25, 0.5, 0.75, 1.0)


def standardised_splits(
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    ood: dict[str, np.ndarray],
    seed: int,
    curve: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> DatasetSplits:
    """Splits standardised by the training inputs' and targets' mean and std, with noisy shifts.

    For one target, ``target_scale`` is its training std, so test metrics come out in its units.
    ``curve`` (1-D sets): raw x of a plotting grid, the features at it, and the training points' raw x.
    """
    x_mean, x_std = train[0].mean(0), train[0].std(0) + 1e-12
    y_mean, y_std = train[1].mean(0), train[1].std(0) + 1e-12

    def labelled(x, y) -> LabelledSet:
        inputs = torch.tensor((x - x_mean) / x_std, dtype=torch.float32)
        return LabelledSet(inputs, torch.tensor((y - y_mean) / y_std, dtype=torch.float32))

    test_set = labelled(*test)
    generator = torch.Generator().manual_seed(seed)
    shift = {
        ("input_noise", severity): LabelledSet(
            test_set.inputs + std * torch.randn(test_set.inputs.shape, generator=generator), test_set.labels
        )
        for severity, std in enumerate(INPUT_NOISE_STD, start=1)
    }
    return DatasetSplits(
        train=labelled(*train),
        val=labelled(*val),
        test=test_set,
        target_size=train[1].shape[1],
        likelihood="regression",
        target_scale=float(y_std[0]) if len(y_std) == 1 else 1.0,
        shift=shift,
        ood={name: torch.tensor((x - x_mean) / x_std, dtype=torch.float32) for name, x in ood.items()},
        curve=None
        if curve is None
        else InputCurve(
            x=curve[0],
            inputs=torch.tensor((curve[1] - x_mean) / x_std, dtype=torch.float32),
            train_x=curve[2],
            train_y=train[1][:, 0],
            target_mean=float(y_mean[0]),
            target_scale=float(y_std[0]),
        ),
    )


def _split(x: np.ndarray, y: np.ndarray, val_size: int, test_size: int, seed: int):
    order = np.random.default_rng(seed).permutation(len(x))
    test, val, train = (
        order[:test_size],
        order[test_size : test_size + val_size],
        order[test_size + val_size :],
    )
    return (x[train], y[train]), (x[val], y[val]), (x[test], y[test])


def load_diabetes(split_seed: int = 0, val_size: int = 60, test_size: int = 90) -> DatasetSplits:
    """Diabetes (442 × 10 features, one target); OOD: test inputs moved 4 std along every feature."""
    from sklearn.datasets import load_diabetes as sklearn_diabetes  # here: scikit-learn is slow to import

    bunch = sklearn_diabetes()
    x, y = bunch.data.astype(np.float64), bunch.target.astype(np.float64)[:, None]
    train, val, test = _split(x, y, val_size, test_size, split_seed)
    far = test[0] + 4 * train[0].std(0)
    return standardised_splits(train, val, test, {"far_inputs": far}, split_seed)


def load_gap_1d(num_points: int = 400, noise: float = 0.1, split_seed: int = 0) -> DatasetSplits:
    """y = sin(2x) + x/2 + noise with x in [−3, −1] ∪ [1, 3]; OOD inputs in the gap and beyond."""
    rng = np.random.default_rng(split_seed)
    x = rng.uniform(1, 3, num_points) * rng.choice([-1.0, 1.0], num_points)
    y = np.sin(2 * x) + x / 2 + noise * rng.normal(size=num_points)
    train, val, test = _split(x[:, None], y[:, None], num_points // 5, num_points // 5, split_seed)
    ood = np.r_[np.linspace(-0.8, 0.8, 50), np.linspace(4, 6, 25), np.linspace(-6, -4, 25)][:, None]
    grid = np.linspace(-6, 6, 241)
    curve = (grid, grid[:, None], train[0][:, 0])
    return standardised_splits(train, val, test, {"gap_and_beyond": ood}, split_seed, curve)


def load_regression_1d(val_size: int = 12, split_seed: int = 0) -> DatasetSplits:
    """Wilson & Izmailov's (2020) 1-D data: 60 training points, test on a grid with the true function values.

    As in that paper's notebooks, targets are multiplied by 10 and the features are [x, x²].
    The validation points are split off the 60 training points; OOD: inputs beyond |x| = 12.
    """
    with resources.files(__package__).joinpath("regression_1d.npz").open("rb") as handle:
        data = np.load(handle)
        x, y, x_test, y_test = data["x"], data["y"] * 10, data["x_"], data["y_"] * 10

    def features(inputs: np.ndarray) -> np.ndarray:
        inputs = inputs.reshape(-1)
        return np.stack([inputs, inputs**2], axis=1)

    order = np.random.default_rng(split_seed).permutation(len(x))
    val, train = order[:val_size], order[val_size:]
    far = np.r_[np.linspace(-20, -13, 20), np.linspace(13, 20, 20)]
    grid = np.linspace(-20, 20, 321)
    return standardised_splits(
        (features(x[train]), y[train].reshape(-1, 1)),
        (features(x[val]), y[val].reshape(-1, 1)),
        (features(x_test), y_test.reshape(-1, 1)),
        {"far_inputs": features(far)},
        split_seed,
        (grid, features(grid), x[train].astype(np.float64)),
    )
