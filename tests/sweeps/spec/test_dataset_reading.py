"""A data file in the wrong format stops a sweep before anything starts, with one line that names the
file and what it should be (exit 2), instead of the same traceback in every trial."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from fake_data import write_cifar, write_corrupted, write_idx, write_sst2, write_svhn, write_uci
from repo_paths import ROOT

from bdlsweep.cli import main
from bdlsweep.sweeps.spec.dataset_reading import DATA_KEY, check_data_readable, read_dataset
from bdlsweep.sweeps.spec.loading import load_spec

QUICKSTART = ROOT / "sweeps" / "quickstart.yaml"
DATASETS = {
    "cifar10": ["dataset={name: cifar10, shift: files, corruptions: [fog], ood: [svhn], val_size: 20}"],
    "mnist": ["dataset={name: mnist, ood: [fashion_mnist], val_size: 20}"],
    "uci": ["dataset={name: uci, dataset: concrete, split: 1}"],
    "sst2": ["dataset={name: sst2}", "model={name: cnn_lstm}", "evaluate.splits=[test]"],  # no OOD set
}


@pytest.fixture(scope="module")
def intact(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("intact")
    write_cifar(root, "cifar10")
    write_corrupted(root, "CIFAR-10-C", ["fog"], per_severity=10)
    write_svhn(root)
    write_idx(root, "mnist")
    write_idx(root, "fashion_mnist", compress=True)
    write_uci(root, "concrete")
    write_sst2(root)
    return root


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _foreign(path: Path) -> None:
    path.write_text("<html><body>404 Not Found</body></html>\n")


def _wrong_shape(path: Path) -> None:
    np.save(path, np.zeros((50, 28, 28), dtype=np.uint8))


def _labels_not_images(path: Path) -> None:
    path.write_bytes(bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 1, 2, 3]))  # an IDX vector of 3 labels


def _bad_label(path: Path) -> None:
    path.write_text("sentence\tlabel\na fine film\tpositive\n")


BROKEN = [
    ("cifar10", "cifar-10-batches-py/data_batch_3", _truncated, "is not a cifar10 pickle batch"),
    ("cifar10", "test_32x32.mat", _foreign, "is not SVHN's MATLAB file"),
    ("cifar10", "CIFAR-10-C/fog.npy", _wrong_shape, "expected [N, 32, 32, 3] images"),
    ("cifar10", "CIFAR-10-C/fog.npy", _foreign, "is not a NumPy .npy array file"),
    ("mnist", "MNIST/raw/t10k-images-idx3-ubyte", _truncated, "is not an IDX file"),
    ("mnist", "FashionMNIST/raw/t10k-labels-idx1-ubyte.gz", _foreign, "is not an IDX file"),
    ("mnist", "MNIST/raw/train-images-idx3-ubyte", _labels_not_images, "expected [N, 28, 28] images"),
    ("uci", "UCI_Datasets/concrete/data/data.txt", _foreign, "is not a whitespace-separated table"),
    ("uci", "UCI_Datasets/concrete/data/index_train_1.txt", _foreign, "is not a list of whole-number"),
    ("sst2", "SST-2/train.tsv", _bad_label, "is not a UTF-8 sentence<TAB>label file"),
]


@pytest.mark.parametrize(
    ("dataset", "relative", "damage", "problem"), BROKEN, ids=[f"{c[1]}-{c[2].__name__}" for c in BROKEN]
)
def test_a_damaged_data_file_is_one_line_naming_it_and_nothing_is_written(
    dataset, relative, damage, problem, intact, tmp_path, capsys
):
    data_dir = tmp_path / "data"
    shutil.copytree(intact, data_dir)
    damage(data_dir / relative)
    storage = tmp_path / "storage"
    argv = ["run", str(QUICKSTART), *DATASETS[dataset], f"data_dir={data_dir}", f"storage={storage}"]
    assert main(argv) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and len(errors[0]) < 600, errors
    assert ": dataset.data_dir: " in errors[0] and str(data_dir / relative) in errors[0], errors[0]
    assert problem in errors[0], errors[0]
    assert not storage.exists()


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_intact_files_of_every_format_pass_the_check(dataset, intact, tmp_path):
    spec = load_spec(QUICKSTART, [*DATASETS[dataset], f"data_dir={intact}", f"storage={tmp_path / 's'}"])
    assert spec.cell_specs()[0].dataset_options["data_dir"] == str(intact)  # files to read, not skipped
    check_data_readable(spec)  # raises on a file it cannot read (the damaged cases above)
    splits = read_dataset(spec.source, DATA_KEY, spec.dataset, spec.dataset_options)
    assert len(splits.train) > 0 and len(splits.test) > 0
