"""Tiny fake copies of the public datasets, written in exactly their published on-disk formats."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import scipy.io


def _images(rng: np.random.Generator, count: int, shape: tuple[int, ...], labels: np.ndarray) -> np.ndarray:
    """uint8 images whose mean brightness depends on the label, so a model can learn something."""
    base = rng.integers(0, 120, size=(count, *shape))
    return (base + (labels.reshape(-1, *[1] * len(shape)) * 12)).clip(0, 255).astype(np.uint8)


def write_cifar(root: Path, kind: str = "cifar10", per_batch: int = 40, test: int = 50) -> None:
    """CIFAR-10 (5 data batches + test batch) or CIFAR-100 (train + test + meta) pickles."""
    rng = np.random.default_rng(0 if kind == "cifar10" else 5)
    classes = 10 if kind == "cifar10" else 100
    folder = root / ("cifar-10-batches-py" if kind == "cifar10" else "cifar-100-python")
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] if kind == "cifar10" else ["train"]
    counts = [per_batch] * len(names) if kind == "cifar10" else [per_batch * 5]
    label_key = "labels" if kind == "cifar10" else "fine_labels"
    test_name = "test_batch" if kind == "cifar10" else "test"
    for name, count in [*zip(names, counts, strict=True), (test_name, test)]:
        labels = rng.integers(0, classes, count)
        images = _images(rng, count, (32, 32, 3), labels % 10)
        batch = {"data": images.transpose(0, 3, 1, 2).reshape(count, -1), label_key: labels.tolist()}
        if kind == "cifar100":
            batch["coarse_labels"] = (labels // 5).tolist()
        with (folder / name).open("wb") as handle:
            pickle.dump(batch, handle)
    if kind == "cifar100":
        with (folder / "meta").open("wb") as handle:
            pickle.dump({"fine_label_names": [f"c{i}" for i in range(100)]}, handle)


def write_corrupted(root: Path, folder: str, corruptions: list[str], per_severity: int = 10_000) -> None:
    """CIFAR-10-C-style folder: ``<corruption>.npy`` [5·n, 32, 32, 3] uint8 and ``labels.npy``."""
    rng = np.random.default_rng(1)
    target = root / folder
    target.mkdir(parents=True, exist_ok=True)
    labels = np.tile(rng.integers(0, 10, per_severity), 5)
    np.save(target / "labels.npy", labels.astype(np.uint8))
    for name in corruptions:
        np.save(target / f"{name}.npy", _images(rng, len(labels), (32, 32, 3), labels))


def write_svhn(root: Path, count: int = 30) -> None:
    """SVHN's ``test_32x32.mat``: X [32, 32, 3, N] uint8, y [N, 1] with digit 0 stored as 10."""
    rng = np.random.default_rng(2)
    labels = rng.integers(1, 11, count)
    images = _images(rng, count, (32, 32, 3), labels % 10).transpose(1, 2, 3, 0)
    scipy.io.savemat(root / "test_32x32.mat", {"X": images, "y": labels.reshape(-1, 1).astype(np.uint8)})


def _write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)


def write_idx(
    root: Path, kind: str = "mnist", train: int = 120, test: int = 40, compress: bool = False
) -> None:
    """MNIST/Fashion-MNIST raw IDX files under ``MNIST/raw`` or ``FashionMNIST/raw``."""
    rng = np.random.default_rng(3 if kind == "mnist" else 4)
    folder = root / ("MNIST" if kind == "mnist" else "FashionMNIST") / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", train), ("t10k", test)):
        labels = rng.integers(0, 10, count)
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", _images(rng, count, (28, 28), labels), compress)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, compress)


def write_uci(
    root: Path, folder: str = "concrete", rows: int = 50, features: int = 4, splits: int = 3
) -> None:
    """``UCI_Datasets/<folder>/data/``: data.txt, column indices, n_splits and 90/10 split indices."""
    rng = np.random.default_rng(6)
    target = root / "UCI_Datasets" / folder / "data"
    target.mkdir(parents=True, exist_ok=True)
    x = rng.normal(size=(rows, features)) * np.arange(1, features + 1) + 10
    y = x @ rng.normal(size=features) + 0.1 * rng.normal(size=rows)
    np.savetxt(target / "data.txt", np.column_stack([x, y]))
    np.savetxt(target / "index_features.txt", np.arange(features), fmt="%d")
    np.savetxt(target / "index_target.txt", [features], fmt="%d")
    (target / "n_splits.txt").write_text(f"{splits}\n")
    for split in range(splits):
        order = rng.permutation(rows)
        test_count = rows // 10
        np.savetxt(target / f"index_train_{split}.txt", order[test_count:], fmt="%d")
        np.savetxt(target / f"index_test_{split}.txt", order[:test_count], fmt="%d")


POSITIVE = ["a wonderful film", "great acting and a moving story", "truly delightful", "brilliant and warm"]
NEGATIVE = ["a dull mess", "boring and far too long", "truly awful", "a tedious waste of time"]


def _sentences(rng: np.random.Generator, count: int) -> list[tuple[str, int]]:
    labels = rng.integers(0, 2, count)
    pools = (NEGATIVE, POSITIVE)
    return [(f"{pools[y][rng.integers(4)]} , {pools[y][rng.integers(4)]}", int(y)) for y in labels]


def write_sst2(root: Path, train: int = 60, dev: int = 20, folder: str = "SST-2") -> None:
    """GLUE's SST-2: ``train.tsv`` and ``dev.tsv`` with a ``sentence<TAB>label`` header."""
    rng = np.random.default_rng(7)
    target = root / folder
    target.mkdir(parents=True, exist_ok=True)
    for name, count in (("train.tsv", train), ("dev.tsv", dev)):
        lines = ["sentence\tlabel"] + [f"{text} \t{label}" for text, label in _sentences(rng, count)]
        (target / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_imdb(root: Path, per_class: int = 12) -> None:
    """aclImdb: ``{train,test}/{neg,pos}/<id>_<rating>.txt``, one review per file."""
    rng = np.random.default_rng(8)
    for split in ("train", "test"):
        for label, polarity in enumerate(("neg", "pos")):
            folder = root / "aclImdb" / split / polarity
            folder.mkdir(parents=True, exist_ok=True)
            pool = (NEGATIVE, POSITIVE)[label]
            for index in range(per_class):
                review = ". ".join(pool[rng.integers(4)] for _ in range(6)) + ".<br /><br />the end"
                (folder / f"{index}_{7 + 3 * label if label else 2}.txt").write_text(review, encoding="utf-8")


def write_qm9_raw(root: Path, molecules: int = 40) -> list[dict]:
    """PyG's pre-processed raw QM9 file ``QM9/raw/qm9_v3.pt``: a list of per-molecule dicts.

    U0 (target 7) is the sum of PyG's atom references plus 0.3 per atom plus noise, so its
    standardisation can be checked.
    """
    import torch
    from torch_geometric.datasets.qm9 import atomrefs

    rng = np.random.default_rng(9)
    elements = np.array([1, 6, 7, 8, 9])
    reference = dict(zip(elements.tolist(), atomrefs[7], strict=True))
    records = []
    for index in range(molecules):
        count = int(rng.integers(3, 9))
        z = rng.choice(elements, count)
        pos = rng.normal(scale=1.2, size=(count, 3))
        y = rng.normal(size=(1, 19))
        y[0, 7] = sum(reference[int(atom)] for atom in z) + 0.3 * count + 0.05 * rng.normal()
        records.append(
            {
                "x": torch.zeros(count, 11),
                "edge_index": torch.zeros(2, 0, dtype=torch.long),
                "edge_attr": torch.zeros(0, 4),
                "y": torch.tensor(y, dtype=torch.float32),
                "pos": torch.tensor(pos, dtype=torch.float32),
                "z": torch.tensor(z, dtype=torch.long),
                "name": f"gdb_{index + 1}",
                "idx": torch.tensor([index]),
            }
        )
    folder = root / "QM9" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(records, folder / "qm9_v3.pt")
    return records


def write_every_paper_dataset(root: Path) -> Path:
    """Tiny copies of every dataset the paper sweeps in ``sweeps/`` read, in their public formats."""
    write_cifar(root, "cifar10")
    write_cifar(root, "cifar100", per_batch=30)
    write_corrupted(root, "CIFAR-10-C", ["gaussian_noise", "contrast"], per_severity=10)
    write_corrupted(root, "CIFAR-100-C", ["gaussian_noise"], per_severity=10)
    write_svhn(root)
    write_sst2(root)
    write_qm9_raw(root)
    write_idx(root, "mnist")
    write_idx(root, "fashion_mnist")
    write_imdb(root)
    for folder in (
        "bostonHousing",
        "concrete",
        "energy",
        "naval-propulsion-plant",
        "yacht",
        "wine-quality-red",
    ):
        write_uci(root, folder, splits=20)
    return root
