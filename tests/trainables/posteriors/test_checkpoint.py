"""Checkpoint folders: atomic replacement, checksum detection of corruption, MAP round trip."""

import pytest
import torch

from bdlsweep.trainables.methods.map import MAPPosterior
from bdlsweep.trainables.posteriors.base import ModelRecipe
from bdlsweep.trainables.posteriors.checkpoint import (
    CorruptCheckpointError,
    read_checkpoint,
    write_checkpoint,
)


def test_write_then_read(tmp_path):
    write_checkpoint(tmp_path / "ckpt", {"method": "x"}, {"w": torch.arange(3.0)})
    metadata, state = read_checkpoint(tmp_path / "ckpt")
    assert metadata["method"] == "x"
    assert torch.equal(state["w"], torch.arange(3.0))


def test_overwrite_leaves_no_temporary_folders(tmp_path):
    write_checkpoint(tmp_path / "ckpt", {"v": 1}, {"w": torch.zeros(2)})
    write_checkpoint(tmp_path / "ckpt", {"v": 2}, {"w": torch.ones(2)})
    metadata, state = read_checkpoint(tmp_path / "ckpt")
    assert metadata["v"] == 2 and torch.equal(state["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_corruption_is_detected_and_named(tmp_path):
    folder = write_checkpoint(tmp_path / "ckpt", {}, {"w": torch.zeros(100)})
    data = bytearray((folder / "state.pt").read_bytes())
    data[-20] ^= 0xFF
    (folder / "state.pt").write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpointError, match=r"state\.pt"):
        read_checkpoint(folder)


def test_map_posterior_round_trip(tmp_path):
    torch.manual_seed(0)
    recipe = ModelRecipe("mlp", {"hidden": [8]}, (1, 8, 8), 10)
    posterior = MAPPosterior(recipe.build(), recipe)
    posterior.save(tmp_path / "map")
    loaded = MAPPosterior.load(tmp_path / "map")
    inputs = torch.rand(6, 1, 8, 8)
    generator = torch.Generator()
    assert torch.equal(posterior.predict(inputs, 1, generator), loaded.predict(inputs, 1, generator))
    assert loaded.predict(inputs, 4, generator).shape == (1, 6, 10)


def test_a_checkpoint_at_a_uri_round_trips_and_is_checked(tmp_path):
    from bdlsweep.trainables.posteriors.checkpoint import read_metadata

    uri = f"file://{tmp_path}/bucket/run/ckpt"
    assert write_checkpoint(uri, {"method": "x"}, {"w": torch.arange(4.0)}) == uri
    metadata, state = read_checkpoint(uri)
    assert metadata["method"] == "x" and torch.equal(state["w"], torch.arange(4.0))
    assert read_metadata(uri)["method"] == "x"
    folder = tmp_path / "bucket" / "run" / "ckpt"
    assert sorted(p.name for p in folder.iterdir()) == ["metadata.json", "state.pt"]
    torch.save({"w": torch.zeros(4)}, folder / "state.pt")  # replaced behind the checksum's back
    with pytest.raises(CorruptCheckpointError, match="checksum mismatch"):
        read_checkpoint(uri)
    (folder / "metadata.json").unlink()  # as if the upload stopped before its last file
    with pytest.raises(CorruptCheckpointError, match="not a bdlsweep checkpoint"):
        read_checkpoint(uri)


def test_posterior_saved_to_a_uri_predicts_as_before(tmp_path):
    recipe = ModelRecipe("mlp", {"hidden": [8]}, (4,), 3)
    posterior = MAPPosterior(recipe.build(), recipe)
    inputs = torch.randn(5, 4)
    uri = f"file://{tmp_path}/remote/map"
    loaded = MAPPosterior.load(posterior.save(uri))
    generator = torch.Generator()
    assert torch.equal(loaded.predict(inputs, 1, generator), posterior.predict(inputs, 1, generator))
