"""QM9 from PyG's ``torch_geometric.datasets.QM9`` folder, with atom-reference-standardised targets.

``data_dir/QM9/`` is PyG's root: ``processed/data_v3.pt`` is read directly (PyG's own
``InMemoryDataset.load``); otherwise PyG processes ``raw/`` (``qm9_v3.pt``, or the raw
``gdb9.sdf`` files when rdkit is installed) and writes ``processed/``. Jordahn et al. (2025)'s split:
shuffle with seed 0, 110,000 / 10,000 / rest (10,831). Targets (default index 7, U0 in eV) are
standardised per molecule as ``(y − Σ_atoms atomref(z) − n·μ) / σ`` with μ the training mean per atom
and σ the training std; ``target_scale = σ`` turns the evaluation metrics back into eV.
"""

from __future__ import annotations

from pathlib import Path

import torch

from bdlsweep.trainables.data.files import DataOptionError, data_file
from bdlsweep.trainables.data.molecules import Molecules
from bdlsweep.trainables.data.splits import DatasetSplits, LabelledSet

QM9_SOURCE = "torch_geometric.datasets.QM9(root) on a machine with a network (or the raw gdb9 files + rdkit)"
PROCESSED = "QM9/processed/data_v3.pt"
RAW_PREPROCESSED = "QM9/raw/qm9_v3.pt"
RAW_SDF = "QM9/raw/gdb9.sdf"
ELEMENTS = (1, 6, 7, 8, 9)


def _rdkit_available() -> bool:
    try:
        import rdkit  # noqa: F401
    except ImportError:
        return False
    return True


def locate_qm9(options: dict) -> None:
    """Raise ``MissingDataFileError`` unless PyG's processed file, or raw files PyG can process, are there."""
    candidates = [PROCESSED, RAW_PREPROCESSED] + ([RAW_SDF] if _rdkit_available() else [])
    data_file(options["data_dir"], candidates, "qm9", QM9_SOURCE)


def download_qm9(options: dict) -> None:
    """Let PyG fetch and process QM9 into ``data_dir/QM9`` (needs a network)."""
    from torch_geometric.datasets import QM9  # here, as in qm9_pyg: only QM9 sweeps import PyG

    QM9(str(Path(options["data_dir"]).expanduser() / "QM9"))


def atom_reference(target: int) -> torch.Tensor:
    """Per-element reference values ``[100]`` of QM9 target ``target`` (zeros where PyG has none)."""
    from torch_geometric.datasets.qm9 import atomrefs

    reference = torch.zeros(100)
    if target in atomrefs:
        reference[torch.tensor(ELEMENTS)] = torch.tensor(atomrefs[target], dtype=torch.float32)
    return reference


def load_qm9(
    data_dir: str,
    target: int = 7,
    train_size: int = 110_000,
    val_size: int = 10_000,
    split_seed: int = 0,
    download: bool = False,
) -> DatasetSplits:
    """QM9 molecules (atomic numbers, positions) with one standardised regression target.

    ``download`` makes the pipeline let PyG fetch the files first (once, before any trial).
    """
    from bdlsweep.trainables.data.qm9_pyg import read_qm9  # here: torch_geometric takes ~1 s to import

    locate_qm9({"data_dir": data_dir})
    dataset = read_qm9(Path(data_dir).expanduser(), PROCESSED)
    values = dataset.y
    if not 0 <= target < values.shape[1]:
        raise DataOptionError("target", f"qm9: target must be in 0..{values.shape[1] - 1} (got {target})")
    molecules = Molecules(dataset.z.long(), dataset.pos.float(), dataset.slices["z"].long())
    count = len(molecules)
    if train_size + val_size >= count:
        raise DataOptionError("train_size", f"qm9: train_size + val_size must be below the {count} molecules")
    references = torch.zeros(count, dtype=torch.float64).index_add_(
        0, molecules.batch, atom_reference(target)[molecules.z].double()
    )
    residual = values[:, target].double() - references
    order = torch.randperm(count, generator=torch.Generator().manual_seed(split_seed))
    train, val = order[:train_size], order[train_size : train_size + val_size]
    test = order[train_size + val_size :]
    atoms = molecules.counts.double()
    per_atom = (residual[train] / atoms[train]).mean()
    scale = (residual[train] - atoms[train] * per_atom).std()
    targets = ((residual - atoms * per_atom) / scale).float()[:, None]

    def split(index: torch.Tensor) -> LabelledSet:
        return LabelledSet(molecules[index], targets[index])

    return DatasetSplits(
        train=split(train),
        val=split(val),
        test=split(test),
        target_size=1,
        likelihood="regression",
        target_scale=float(scale),
    )
