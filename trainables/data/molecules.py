"""Molecules as one packed atom list, indexable like a tensor so the shared training loop batches them.

``z`` (atomic numbers) and ``pos`` (Å) hold every atom; ``ptr`` marks where each molecule starts.
Indexing with a slice or an index tensor gives a new packed batch; ``radius_graph`` builds the
neighbour lists in plain torch (PyG's needs pyg-lib).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Molecules:
    """A batch of molecules: atomic numbers ``[A]``, positions ``[A, 3]``, molecule starts ``[M + 1]``."""

    z: torch.Tensor
    pos: torch.Tensor
    ptr: torch.Tensor

    def __len__(self) -> int:
        return len(self.ptr) - 1

    @property
    def shape(self) -> tuple[int]:
        """``(M,)``: one input per molecule, so a dataset's ``input_shape`` is ``()``."""
        return (len(self),)

    @property
    def device(self) -> torch.device:
        """Where the atoms are."""
        return self.z.device

    @property
    def nbytes(self) -> int:
        """Memory held by the three tensors."""
        return sum(t.element_size() * t.numel() for t in (self.z, self.pos, self.ptr))

    @property
    def counts(self) -> torch.Tensor:
        """Atoms per molecule ``[M]``."""
        return self.ptr[1:] - self.ptr[:-1]

    @property
    def batch(self) -> torch.Tensor:
        """The molecule of every atom ``[A]``."""
        return torch.repeat_interleave(torch.arange(len(self), device=self.ptr.device), self.counts)

    def to(self, device: torch.device | str) -> Molecules:
        """This batch on ``device``."""
        return Molecules(self.z.to(device), self.pos.to(device), self.ptr.to(device))

    def __getitem__(self, index: slice | torch.Tensor) -> Molecules:
        ids = torch.arange(len(self), device=self.ptr.device)[index]
        counts = self.counts[ids]
        starts = torch.cumsum(counts, 0) - counts
        within = torch.arange(int(counts.sum()), device=ids.device) - torch.repeat_interleave(starts, counts)
        atoms = torch.repeat_interleave(self.ptr[ids], counts) + within
        ptr = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
        return Molecules(self.z[atoms], self.pos[atoms], ptr)

    @classmethod
    def from_list(cls, numbers: Sequence[torch.Tensor], positions: Sequence[torch.Tensor]) -> Molecules:
        """Pack per-molecule atomic numbers and positions."""
        counts = torch.tensor([len(z) for z in numbers], dtype=torch.int64)
        ptr = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
        return cls(torch.cat(list(numbers)).long(), torch.cat(list(positions)).float(), ptr)

    @classmethod
    def concat(cls, batches: Sequence[Molecules]) -> Molecules:
        """One batch holding the molecules of ``batches`` in order."""
        offsets = torch.cumsum(torch.tensor([0] + [int(b.ptr[-1]) for b in batches[:-1]]), 0)
        ptr = torch.cat(
            [batches[0].ptr[:1]] + [b.ptr[1:] + int(o) for b, o in zip(batches, offsets, strict=True)]
        )
        return cls(torch.cat([b.z for b in batches]), torch.cat([b.pos for b in batches]), ptr)


def radius_graph(molecules: Molecules, cutoff: float) -> torch.Tensor:
    """Edges ``[2, E]`` (source, target) between distinct atoms of one molecule closer than ``cutoff``."""
    counts = molecules.counts
    pairs = counts * counts
    molecule = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), pairs)
    k = torch.arange(int(pairs.sum()), device=counts.device) - torch.repeat_interleave(
        torch.cumsum(pairs, 0) - pairs, pairs
    )
    size = counts[molecule]
    start = molecules.ptr[:-1][molecule]
    target, source = start + k // size, start + k % size
    distance = (molecules.pos[target] - molecules.pos[source]).norm(dim=-1)
    keep = (target != source) & (distance < cutoff)
    return torch.stack([source[keep], target[keep]])


def concat_inputs(parts: Sequence[torch.Tensor | Molecules]) -> torch.Tensor | Molecules:
    """Concatenate evaluation inputs along the example axis, tensors or packed molecules."""
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], Molecules):
        return Molecules.concat(parts)
    return torch.cat(list(parts))
