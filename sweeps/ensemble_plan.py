"""Which members form each ensemble: the seed paper's rule, or a file in its format."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

COLUMNS = ["K", "ensemble_id", "seed", "model_ids"]


def paper_seed(size: int, ensemble_id: int) -> int:
    """The seed paper's random seed for ensemble ``ensemble_id`` of size K: (K+id)(K+id+1)/2 + id."""
    return (size + ensemble_id) * (size + ensemble_id + 1) // 2 + ensemble_id


def plan_ensembles(seeds: list[int], sizes: list[int], per_size: int) -> pd.DataFrame:
    """Ensembles by the seed paper's rule: ``random.seed(paper_seed)``, sorted sample of K seeds.

    With seeds 1..30 this reproduces the paper's ensemble file exactly. K = 1 lists every seed
    once (single models), as the paper evaluates them.
    """
    pool = sorted(seeds)
    rows = []
    for size in map(int, sizes):
        if size == 1:
            rows += [(1, index + 1, seed, str(seed)) for index, seed in enumerate(pool)]
            continue
        for ensemble_id in range(1, per_size + 1):
            seed = paper_seed(size, ensemble_id)
            random.seed(seed)
            members = sorted(random.sample(pool, size))
            rows.append((size, ensemble_id, seed, ",".join(map(str, members))))
    return pd.DataFrame(rows, columns=COLUMNS)


def read_ensemble_file(path: Path) -> pd.DataFrame:
    """An ensemble file in the paper's format (tab- or comma-separated; model_ids a comma list)."""
    frame = pd.read_csv(path, sep=None, engine="python", dtype={"model_ids": str})
    missing = [column for column in COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {', '.join(missing)}")
    return frame[COLUMNS]


def members_of(model_ids: str) -> list[int]:
    """``"3,7,12"`` → [3, 7, 12]."""
    return [int(item) for item in str(model_ids).split(",") if item.strip()]


def write_ensemble_file(frame: pd.DataFrame) -> str:
    """The plan as the paper's tab-separated text."""
    return frame.to_csv(sep="\t", index=False)
