"""Low-dimensional affine subspaces of weight space around a SWA solution: θ = shift + zᵀ·basis.

``pca_subspace`` takes the leading principal directions of the SWAG deviation matrix D (kept
snapshots minus their mean), scaled by σ_i/√(K − 1), so that z ~ N(0, I) reproduces SWAG's
low-rank covariance D Dᵀ/(K − 1) within the subspace (subspace inference, Izmailov et al. 2019).
``random_subspace`` spans ``rank`` random directions, orthonormalised, so z is in weight units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Subspace:
    """An affine subspace: ``shift`` ``[P]`` and ``basis`` ``[R, P]`` (one direction per row)."""

    shift: torch.Tensor
    basis: torch.Tensor

    @property
    def rank(self) -> int:
        """The subspace dimension R."""
        return self.basis.shape[0]

    def weights(self, coordinates: torch.Tensor) -> torch.Tensor:
        """Full weights shift + zᵀ·basis for coordinates z ``[R]``."""
        return self.shift + coordinates.to(self.basis) @ self.basis

    def state_dict(self) -> dict[str, Any]:
        """Tensors to save."""
        return {"shift": self.shift, "basis": self.basis}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], device: torch.device) -> Subspace:
        """Inverse of ``state_dict`` on ``device``."""
        return cls(state["shift"].to(device), state["basis"].to(device))


def pca_subspace(shift: torch.Tensor, deviations: torch.Tensor, rank: int) -> Subspace:
    """Leading ``rank`` principal directions of the deviation matrix ``[P, K]``, scaled by σ_i/√(K − 1)."""
    kept = deviations.shape[1]
    if kept < 2:
        raise ValueError(f"a PCA subspace needs at least 2 SWAG snapshots, the checkpoint has {kept}")
    if rank > kept:
        raise ValueError(
            f"rank {rank} exceeds the {kept} SWAG snapshots kept (SWAG keeps one per epoch, up to its "
            f"rank: its stage needs at least {rank} epochs and rank {rank})"
        )
    _, singular_values, directions = torch.linalg.svd(deviations.T, full_matrices=False)
    basis = singular_values[:rank, None] * directions[:rank] / (kept - 1) ** 0.5
    return Subspace(shift, basis)


def random_subspace(shift: torch.Tensor, rank: int, generator: torch.Generator) -> Subspace:
    """``rank`` Gaussian random directions, orthonormalised (rows of unit length, mutually orthogonal)."""
    gaussian = torch.randn(len(shift), rank, generator=generator, device=generator.device)
    orthonormal, _ = torch.linalg.qr(gaussian.to(shift))
    return Subspace(shift, orthonormal.T.contiguous())


def plane_through(
    first: torch.Tensor, second: torch.Tensor, third: torch.Tensor
) -> tuple[Subspace, torch.Tensor]:
    """The plane through three weight vectors, and their coordinates ``[3, 2]`` in it.

    As bnn_hmc's posterior surface plots: origin ``first``, first direction ``second − first`` (so
    ``second`` is at (1, 0)), second direction the part of ``third − first`` orthogonal to it (so
    ``third`` is at (⟨third − first, u⟩ / |u|², 1)).
    """
    along = second - first
    offset = third - first
    if float(along.norm()) == 0:
        raise ValueError("the first two weight vectors are equal: they span no plane")
    projection = float(offset @ along) / float(along @ along)
    across = offset - projection * along
    if float(across.norm()) <= 1e-12 * float(offset.norm() + along.norm()):
        raise ValueError("the three weight vectors are on one line: they span no plane")
    coordinates = torch.tensor([[0.0, 0.0], [1.0, 0.0], [projection, 1.0]], dtype=torch.float64)
    return Subspace(first, torch.stack([along, across])), coordinates
