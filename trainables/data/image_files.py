"""Readers of the public on-disk formats of the image datasets, under one torchvision-style root.

``data_dir`` is laid out as torchvision's ``download=True`` leaves it: ``cifar-10-batches-py/``,
``cifar-100-python/``, ``MNIST/raw/``, ``FashionMNIST/raw/``, ``test_32x32.mat`` (SVHN), plus the
corrupted sets ``CIFAR-10-C/`` and ``CIFAR-100-C/`` as published (``<corruption>.npy``,
``labels.npy``). Each ``locate_*`` function finds the files or raises ``MissingDataFileError``; each
``read_*`` function returns uint8 images and integer labels.
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.io

from bdlsweep.trainables.data.files import MalformedDataFileError, data_file, reading

CifarKind = Literal["cifar10", "cifar100"]
IdxKind = Literal["mnist", "fashion_mnist"]

CIFAR_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
CIFAR_FILES = {
    "cifar10": {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
    "cifar100": {"train": ["train"], "test": ["test"]},
}
CIFAR_LABEL_KEYS = {"cifar10": "labels", "cifar100": "fine_labels"}
CIFAR_SOURCES = {
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (or dataset.download=true)",
    "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz (or dataset.download=true)",
}
CORRUPTED_FOLDERS = {"cifar10": "CIFAR-10-C", "cifar100": "CIFAR-100-C"}
CORRUPTED_SOURCES = {
    "cifar10": "https://zenodo.org/records/2535967 (CIFAR-10-C.tar)",
    "cifar100": "https://zenodo.org/records/3555552 (CIFAR-100-C.tar)",
}
IDX_FOLDERS = {"mnist": "MNIST/raw", "fashion_mnist": "FashionMNIST/raw"}
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IDX_SOURCES = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/ (or dataset.download=true)",
    "fashion_mnist": "https://github.com/zalandoresearch/fashion-mnist (or dataset.download=true)",
}
SVHN_SOURCE = "http://ufldl.stanford.edu/housenumbers/test_32x32.mat (or dataset.download=true)"
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def locate_cifar(data_dir: str | Path, kind: CifarKind, split: str) -> list[Path]:
    """The pickled batch files of CIFAR-10/100's ``train`` or ``test`` split."""
    folder = CIFAR_FOLDERS[kind]
    source = CIFAR_SOURCES[kind]
    return [data_file(data_dir, [f"{folder}/{name}"], kind, source) for name in CIFAR_FILES[kind][split]]


def read_cifar(data_dir: str | Path, kind: CifarKind, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 32, 32, 3]`` uint8 and labels of a CIFAR split, from torchvision's pickle batches."""
    images, labels = [], []
    for path in locate_cifar(data_dir, kind, split):
        with reading(path, f"a {kind} pickle batch"), path.open("rb") as handle:
            loaded = pickle.load(handle, encoding="latin1")
            # Python 2's str keys load as str; a batch pickled with bytes keys (b"data") reads the same
            batch = {key.decode() if isinstance(key, bytes) else key: value for key, value in loaded.items()}
            images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.append(np.asarray(batch[CIFAR_LABEL_KEYS[kind]], dtype=np.int64))
        if len(images[-1]) != len(labels[-1]):
            raise MalformedDataFileError(f"{path} has {len(images[-1])} images but {len(labels[-1])} labels")
    return np.concatenate(images).transpose(0, 2, 3, 1), np.concatenate(labels)


def locate_corrupted(
    data_dir: str | Path, kind: CifarKind, corruptions: tuple[str, ...] | list[str] | None
) -> dict[str, Path]:
    """``labels.npy`` and each corruption's ``.npy`` of CIFAR-10-C/100-C; all present ones when None."""
    folder = CORRUPTED_FOLDERS[kind]
    source = CORRUPTED_SOURCES[kind]
    labels = data_file(data_dir, [f"{folder}/labels.npy"], f"{kind}_c", source)
    if corruptions is None:
        corruptions = sorted(path.stem for path in labels.parent.glob("*.npy") if path.stem != "labels")
    files = {name: data_file(data_dir, [f"{folder}/{name}.npy"], f"{kind}_c", source) for name in corruptions}
    paths = {"labels": labels, **files}
    for corruption in files:
        if paths[corruption].exists() and labels.exists():  # absent ones are listed while planning
            _mapped_corrupted(paths, corruption)  # headers only: the files stay unread until evaluation
    return paths


def _mapped_npy(path: Path) -> np.ndarray:
    """A ``.npy`` file memory-mapped (its header read); ``MalformedDataFileError`` if it is not one."""
    with reading(path, "a NumPy .npy array file"):
        return np.load(path, mmap_mode="r")


def _mapped_corrupted(paths: dict[str, Path], corruption: str) -> tuple[np.ndarray, np.ndarray]:
    """One corruption's images ``[5·n, 32, 32, 3]`` and labels ``[5·n]`` memory-mapped, shapes checked."""
    images, labels = _mapped_npy(paths[corruption]), _mapped_npy(paths["labels"])
    if images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        shape = list(images.shape)
        raise MalformedDataFileError(f"{paths[corruption]} holds {shape}: expected [N, 32, 32, 3] images")
    if len(images) != len(labels) or len(images) % 5:
        raise MalformedDataFileError(
            f"{paths[corruption]} has {len(images)} rows and labels.npy {len(labels)}: "
            "expected the same multiple of 5 (five severities)"
        )
    return images, labels


def read_corrupted(paths: dict[str, Path], corruption: str, severity: int) -> tuple[np.ndarray, np.ndarray]:
    """The slice of one corruption file at ``severity`` (1–5), memory-mapped.

    The files stack the five severities in order, each a fifth of the rows (10,000 in the published sets).
    """
    images, labels = _mapped_corrupted(paths, corruption)
    per_severity = len(images) // 5
    rows = slice((severity - 1) * per_severity, severity * per_severity)
    return np.array(images[rows], dtype=np.uint8), np.array(labels[rows], dtype=np.int64)


def _read_idx(path: Path) -> np.ndarray:
    """An IDX array (the MNIST file format), plain or gzip-compressed."""
    opener = gzip.open if path.suffix == ".gz" else open
    with reading(path, "an IDX file"), opener(path, "rb") as handle:
        raw = handle.read()
        if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
            raise MalformedDataFileError(f"{path} is not an IDX file (bad magic number)")
        dims = int(raw[3])
        shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
        return np.frombuffer(raw, dtype=IDX_DTYPES[raw[2]], offset=4 + 4 * dims).reshape(shape)


def locate_idx(data_dir: str | Path, kind: IdxKind, split: str) -> tuple[Path, Path]:
    """The images and labels IDX files of MNIST/Fashion-MNIST (plain or ``.gz``)."""
    folder = IDX_FOLDERS[kind]
    images, labels = (
        data_file(data_dir, [f"{folder}/{name}", f"{folder}/{name}.gz"], kind, IDX_SOURCES[kind])
        for name in IDX_FILES[split]
    )
    return images, labels


def read_idx(data_dir: str | Path, kind: IdxKind, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 28, 28, 1]`` uint8 and labels of MNIST/Fashion-MNIST from torchvision's raw IDX files."""
    images_path, labels_path = locate_idx(data_dir, kind, split)
    images, labels = _read_idx(images_path), _read_idx(labels_path)
    if images.shape[1:] != (28, 28) or labels.ndim != 1:
        raise MalformedDataFileError(
            f"{images_path} holds {list(images.shape)} and {labels_path} {list(labels.shape)}: "
            "expected [N, 28, 28] images and [N] labels"
        )
    if len(images) != len(labels):
        raise MalformedDataFileError(
            f"{images_path} has {len(images)} images but {labels_path} {len(labels)} labels"
        )
    return images[..., None].astype(np.uint8), labels.astype(np.int64)


def locate_svhn(data_dir: str | Path) -> Path:
    """SVHN's ``test_32x32.mat`` (torchvision's root layout, or an ``svhn/`` folder)."""
    return data_file(data_dir, ["test_32x32.mat", "svhn/test_32x32.mat"], "svhn", SVHN_SOURCE)


def read_svhn(data_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """SVHN test images ``[N, 32, 32, 3]`` uint8 and labels 0–9 (the file stores digit 0 as 10)."""
    path = locate_svhn(data_dir)
    with reading(path, "SVHN's MATLAB file with X [32, 32, 3, N] and y [N, 1]"):
        mat = scipy.io.loadmat(path)
        images = np.asarray(mat["X"], dtype=np.uint8).transpose(3, 0, 1, 2)
        labels = np.asarray(mat["y"], dtype=np.int64).reshape(-1) % 10
    if images.shape[1:] != (32, 32, 3) or len(images) != len(labels):
        raise MalformedDataFileError(f"{path}: X {list(images.shape)} and {len(labels)} labels do not match")
    return images, labels
