"""QM9 from PyG's folder (raw and processed), packed molecules, radius graph, and PaiNN's symmetries."""

import shutil

import pytest
import torch
from fake_data import write_qm9_raw

from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.data.files import MissingDataFileError
from bdlsweep.trainables.data.molecules import Molecules, radius_graph
from bdlsweep.trainables.data.qm9 import atom_reference
from bdlsweep.trainables.data.registry import locate_dataset
from bdlsweep.trainables.models import build_model

OPTIONS = {"train_size": 24, "val_size": 6}


@pytest.fixture(scope="module")
def qm9(tmp_path_factory):
    root = tmp_path_factory.mktemp("qm9")
    return root, write_qm9_raw(root)


def test_raw_is_processed_by_pyg_then_processed_is_read_alone(qm9, tmp_path):
    root, _ = qm9
    data = load_dataset("qm9", {"data_dir": str(root), **OPTIONS})
    assert (root / "QM9" / "processed" / "data_v3.pt").is_file()
    assert (len(data.train), len(data.val), len(data.test)) == (24, 6, 10)
    assert data.likelihood == "regression" and data.input_shape == () and data.target_size == 1
    copy = tmp_path / "QM9" / "processed"
    copy.mkdir(parents=True)
    shutil.copy(root / "QM9" / "processed" / "data_v3.pt", copy)
    again = load_dataset("qm9", {"data_dir": str(tmp_path), **OPTIONS})
    assert torch.equal(again.test.labels, data.test.labels) and torch.equal(
        again.test.inputs.z, data.test.inputs.z
    )


def test_targets_are_standardised_after_atom_references(qm9):
    root, records = qm9
    data = load_dataset("qm9", {"data_dir": str(root), **OPTIONS})
    assert data.train.labels.std().item() == pytest.approx(1, abs=1e-5)
    assert data.train.labels.mean().abs() < 0.5
    order = torch.randperm(40, generator=torch.Generator().manual_seed(0))
    raw = torch.tensor([float(r["y"][0, 7]) for r in records], dtype=torch.float64)[order]
    atoms = torch.tensor([len(r["z"]) for r in records], dtype=torch.float64)[order]
    refs = torch.tensor([float(atom_reference(7)[r["z"]].sum()) for r in records], dtype=torch.float64)[order]
    residual = raw - refs
    per_atom = (residual[:24] / atoms[:24]).mean()
    assert per_atom.item() == pytest.approx(0.3, abs=0.05)
    labels = torch.cat([data.train.labels, data.val.labels, data.test.labels]).double().flatten()
    assert torch.allclose(labels * data.target_scale + atoms * per_atom + refs, raw, atol=1e-3)
    assert data.target_scale == pytest.approx(float((residual[:24] - atoms[:24] * per_atom).std()), rel=1e-4)
    first = data.train.inputs[torch.tensor([0])]
    assert torch.equal(first.z, torch.as_tensor(records[int(order[0])]["z"]))


def test_missing_qm9_is_named(tmp_path):
    with pytest.raises(MissingDataFileError, match=r"QM9/processed/data_v3\.pt.*torch_geometric"):
        locate_dataset("qm9", {"data_dir": str(tmp_path)})


def _molecules(seed: int = 0, count: int = 4) -> Molecules:
    generator = torch.Generator().manual_seed(seed)
    sizes = torch.randint(2, 7, (count,), generator=generator).tolist()
    numbers = [torch.randint(1, 10, (n,), generator=generator) for n in sizes]
    positions = [torch.randn(n, 3, generator=generator) * 1.5 for n in sizes]
    return Molecules.from_list(numbers, positions)


def test_indexing_and_concatenation_repack_molecules():
    batch = _molecules()
    picked = batch[torch.tensor([2, 0])]
    assert picked.counts.tolist() == [batch.counts[2].item(), batch.counts[0].item()]
    assert torch.equal(picked.pos[: picked.counts[0]], batch.pos[batch.ptr[2] : batch.ptr[3]])
    joined = Molecules.concat([batch[0:2], batch[2:4]])
    assert torch.equal(joined.z, batch.z) and torch.equal(joined.ptr, batch.ptr) and len(batch[1:3]) == 2


def test_radius_graph_matches_brute_force():
    batch = _molecules(1, 6)
    edges = set(map(tuple, radius_graph(batch, 2.5).T.tolist()))
    distance = torch.cdist(batch.pos, batch.pos)
    same = batch.batch[:, None] == batch.batch[None, :]
    mask = same & (distance < 2.5) & ~torch.eye(len(batch.z), dtype=torch.bool)
    assert edges == {(j, i) for i, j in mask.nonzero().tolist()}


def _rotation(seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(
        torch.randn(3, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    )
    return q * torch.sign(torch.det(q))


def test_painn_energy_is_invariant_and_vector_features_equivariant():
    torch.manual_seed(0)
    model = build_model("painn", {"features": 16, "layers": 2, "radial": 8}, (), 2).double()
    batch = _molecules(2)
    batch = Molecules(batch.z, batch.pos.double(), batch.ptr)
    rotation = _rotation(3)
    moved = Molecules(
        batch.z, batch.pos @ rotation.T + torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64), batch.ptr
    )
    assert torch.allclose(model(moved), model(batch), atol=1e-9)
    s, v = model.representation(batch)
    s_moved, v_moved = model.representation(moved)
    assert torch.allclose(s_moved, s, atol=1e-9)
    assert torch.allclose(v_moved, torch.einsum("ij,ajf->aif", rotation, v), atol=1e-9)
    assert v.abs().max() > 1e-3


def test_painn_paper_head_and_backward():
    model = build_model("painn", {}, (), 2)
    assert (model.head.in_features, model.head.out_features) == (64, 2)
    assert sum(p.numel() for p in model.head.parameters()) == 130
    batch = _molecules(4)
    out = model(batch)
    assert out.shape == (4, 2) and torch.allclose(out, model.head(model.features(batch)))
    out.sum().backward()
    assert all(p.grad is not None for p in model.messages[0].parameters())
