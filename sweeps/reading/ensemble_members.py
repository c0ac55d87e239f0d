"""Which members form each ensemble: Jordahn et al. (2025)'s rule, or a file in its format."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pandas as pd

COLUMNS = ["K", "ensemble_id", "seed", "model_ids"]


def paper_seed(size: int, ensemble_id: int) -> int:
    """Jordahn et al. (2025)'s random seed for ensemble ``ensemble_id`` of size K: (K+id)(K+id+1)/2 + id."""
    return (size + ensemble_id) * (size + ensemble_id + 1) // 2 + ensemble_id


def plan_ensembles(seeds: list[int], sizes: list[int], per_size: int) -> pd.DataFrame:
    """Ensembles by Jordahn et al. (2025)'s rule: ``random.seed(paper_seed)``, sorted sample of K seeds.

    With seeds 1..30 this reproduces the paper's ensemble file exactly. K = 1 lists every seed
    once (single models), as the paper evaluates them. A draw that repeats an earlier ensemble of
    the same K is skipped (the rule moves on to its next seed), so with few seeds the plan holds
    distinct ensembles, all C(seeds, K) of them when fewer exist than ``per_size``.
    """
    pool = sorted(seeds)
    rows = []
    for size in map(int, sizes):
        if size == 1:
            rows += [(1, index + 1, seed, str(seed)) for index, seed in enumerate(pool)]
            continue
        wanted = min(per_size, math.comb(len(pool), size))
        seen: set[tuple[int, ...]] = set()
        draw = 0
        while len(seen) < wanted:
            draw += 1
            seed = paper_seed(size, draw)
            random.seed(seed)
            members = tuple(sorted(random.sample(pool, size)))
            if members not in seen:
                seen.add(members)
                rows.append((size, len(seen), seed, ",".join(map(str, members))))
    return pd.DataFrame(rows, columns=COLUMNS)


def plan_shortfalls(seeds: list[int], sizes: list[int], per_size: int) -> list[str]:
    """One line per ensemble size K for which fewer distinct ensembles exist than ``per_size`` asks."""
    return [
        f"K={size}: only {math.comb(len(seeds), size)} distinct ensembles of {len(seeds)} seeds exist; "
        f"all are used ({per_size} asked)"
        for size in sizes
        if size > 1 and math.comb(len(seeds), size) < per_size
    ]


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
