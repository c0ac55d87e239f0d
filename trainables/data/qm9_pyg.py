"""PyG's QM9 files read through ``torch_geometric``: the processed file directly, or PyG's processing."""

from __future__ import annotations

from pathlib import Path

from torch_geometric.data import InMemoryDataset
from torch_geometric.datasets import QM9

from bdlsweep.trainables.data.files import reading


class _ProcessedQM9(InMemoryDataset):
    """PyG's processed QM9 file read with ``InMemoryDataset.load`` (no root, so nothing is downloaded)."""

    def __init__(self, path: Path) -> None:
        super().__init__(None)
        self.load(str(path))


def read_qm9(root: Path, processed: str) -> InMemoryDataset:
    """QM9 under ``root``: the file ``root/processed`` as is, or else PyG processes ``root/QM9/raw``."""
    if (root / processed).is_file():
        with reading(root / processed, "PyG's processed QM9 file"):
            return _ProcessedQM9(root / processed)
    with reading(root / "QM9" / "raw", "PyG's raw QM9 files"):
        return QM9(str(root / "QM9"))
