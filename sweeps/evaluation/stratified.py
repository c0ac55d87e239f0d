"""Which ensemble member produces each posterior sample, so every prefix is balanced (Jordahn et
al. 2025)."""

from __future__ import annotations

import numpy as np


def draw_members(
    num_members: int, num_samples: int, stratified: bool, rng: np.random.Generator
) -> np.ndarray:
    """Member index of each of ``num_samples`` draws, in draw order.

    Stratified: ⌊S/K⌋ random permutations of the K members concatenated, then S mod K members
    drawn without replacement, so the first n draws use every member ⌊n/K⌋ or ⌈n/K⌉ times.
    Otherwise members are drawn uniformly with replacement.
    """
    if not stratified:
        return rng.integers(0, num_members, size=num_samples)
    blocks = [rng.permutation(num_members) for _ in range(num_samples // num_members)]
    blocks.append(rng.choice(num_members, size=num_samples % num_members, replace=False))
    return np.concatenate(blocks).astype(np.int64)
