"""PaiNN (Schütt, Unke & Gastegger, 2021): equivariant message passing on PyG's ``MessagePassing``.

Scalar features ``s [A, F]`` and vector features ``v [A, 3, F]`` per atom; each layer is a message
block (neighbours within the cutoff, sinusoidal radial basis times a cosine cutoff) and an update
block. Readout: per-atom ``F → 64`` (SiLU), summed over the molecule's atoms, then the linear
``head`` ``64 → 2`` (mean and variance parameter of the standardised target). Jordahn et al. (2025) sum
after its last layer; summing before it keeps the 130-parameter head a plain ``nn.Linear`` on
per-molecule features, which is what last-layer Laplace needs (its bias then counts once per molecule).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch_geometric.nn import MessagePassing

from bdlsweep.trainables.data.molecules import Molecules, radius_graph
from bdlsweep.trainables.models.option_types import PositiveFloat, Size


class RadialBasis(nn.Module):
    """``sin(n π r / r_c) / r`` for n = 1..count, times the cosine cutoff ``(cos(π r / r_c) + 1) / 2``."""

    def __init__(self, count: int, cutoff: float) -> None:
        super().__init__()
        self.cutoff = cutoff
        self.register_buffer(
            "frequencies", torch.arange(1, count + 1, dtype=torch.float32) * math.pi / cutoff
        )

    def forward(self, distance: torch.Tensor) -> torch.Tensor:
        distance = distance[:, None]
        envelope = 0.5 * (torch.cos(math.pi * distance / self.cutoff) + 1.0) * (distance < self.cutoff)
        return torch.sin(self.frequencies * distance) / distance * envelope


class PaiNNMessage(MessagePassing):
    """Message block: ``Δs_i = Σ_j φ_s(s_j) W_s(r_ij)``, ``Δv_i = Σ_j v_j φ_vv W_vv + φ_vs W_vs r̂_ij``."""

    def __init__(self, features: int, radial: int) -> None:
        super().__init__(aggr="add")
        self.features = features
        self.scalar = nn.Sequential(
            nn.Linear(features, features), nn.SiLU(), nn.Linear(features, 3 * features)
        )
        self.filter = nn.Linear(radial, 3 * features)

    def forward(self, s, v, edge_index, basis, direction):
        out = self.propagate(edge_index, s=s, v=v.flatten(1), basis=basis, direction=direction)
        delta_s, delta_v = out.split([self.features, 3 * self.features], dim=-1)
        return s + delta_s, v + delta_v.view_as(v)

    def message(self, s_j, v_j, basis, direction):
        x = self.scalar(s_j) * self.filter(basis)
        x_s, x_vv, x_vs = x.split(self.features, dim=-1)
        v_j = v_j.view(-1, 3, self.features)
        delta_v = v_j * x_vv[:, None, :] + x_vs[:, None, :] * direction[:, :, None]
        return torch.cat([x_s, delta_v.flatten(1)], dim=-1)


class PaiNNUpdate(nn.Module):
    """Update block: mixes ``s`` with the norms and inner products of linearly mixed vectors."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.features = features
        self.mix = nn.Linear(features, 2 * features, bias=False)
        self.gate = nn.Sequential(
            nn.Linear(2 * features, features), nn.SiLU(), nn.Linear(features, 3 * features)
        )

    def forward(self, s: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u, w = self.mix(v).split(self.features, dim=-1)
        norm = torch.sqrt((w**2).sum(dim=1) + 1e-8)
        a_vv, a_sv, a_ss = self.gate(torch.cat([s, norm], dim=-1)).split(self.features, dim=-1)
        return s + a_sv * (u * w).sum(dim=1) + a_ss, v + a_vv[:, None, :] * u


class PaiNN(nn.Module):
    """PaiNN for molecular properties; ``features`` sums per-atom readout features over each molecule."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        features: Size = 128,
        layers: Size = 3,
        radial: Size = 20,
        cutoff: PositiveFloat = 5.0,
        atom_types: Size = 100,
        readout: Size = 64,
    ) -> None:
        super().__init__()
        self.cutoff = cutoff
        self.features_size = features
        self.embedding = nn.Embedding(atom_types, features)
        self.basis = RadialBasis(radial, cutoff)
        self.messages = nn.ModuleList(PaiNNMessage(features, radial) for _ in range(layers))
        self.updates = nn.ModuleList(PaiNNUpdate(features) for _ in range(layers))
        self.readout = nn.Sequential(nn.Linear(features, readout), nn.SiLU())
        self.head = nn.Linear(readout, num_outputs)

    def representation(self, molecules: Molecules) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-atom scalar ``[A, F]`` (rotation invariant) and vector ``[A, 3, F]`` (equivariant) features."""
        edge_index = radius_graph(molecules, self.cutoff)
        offset = molecules.pos[edge_index[1]] - molecules.pos[edge_index[0]]
        distance = offset.norm(dim=-1)
        direction = offset / distance[:, None]
        basis = self.basis(distance)
        s = self.embedding(molecules.z)
        v = s.new_zeros(len(s), 3, self.features_size)
        for message, update in zip(self.messages, self.updates, strict=True):
            s, v = message(s, v, edge_index, basis, direction)
            s, v = update(s, v)
        return s, v

    def features(self, molecules: Molecules) -> torch.Tensor:
        """Per-molecule sums of the per-atom readout features ``[M, readout]``, the inputs of ``head``."""
        s, _ = self.representation(molecules)
        atoms = self.readout(s)
        return atoms.new_zeros(len(molecules), atoms.shape[1]).index_add_(0, molecules.batch, atoms)

    def forward(self, molecules: Molecules) -> torch.Tensor:
        return self.head(self.features(molecules))
