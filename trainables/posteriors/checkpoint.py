"""Checkpoint folders written atomically, with a checksum that detects corrupted state files.

Metadata entries named in ``references`` point at other folders of the same sweep (an LLLA
checkpoint at its MAP checkpoint and prepared folder); they are recorded relative to the sweep's
storage root and read back as addresses under the root that holds the checkpoint, so a copied or
moved storage folder still loads.

A folder is a local path or a URI that ``pyarrow.fs`` opens (``s3://``, ``gs://``, ``file://``): a URI
checkpoint is staged in a local temporary folder, and uploaded state file first, metadata (which holds
the state's checksum) last, so a reader never accepts a half-uploaded one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import torch

from bdlsweep.storage.layout import record_reference, resolve_reference
from bdlsweep.storage.locations import Location, is_uri

STATE_FILE = "state.pt"
METADATA_FILE = "metadata.json"
REFERENCES = "references"
LEGACY_REFERENCES = ("base", "prepared", "llla")  # absolute paths in checkpoints written before 2026-12-02


class CorruptCheckpointError(RuntimeError):
    """A checkpoint folder whose state file is missing or does not match its recorded checksum."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _upload(local: Path, uri: str) -> None:
    """Copy a finished local checkpoint folder to ``uri``: the state file first, the metadata last."""
    for name in (STATE_FILE, METADATA_FILE):
        (Location.parse(uri) / name).write_bytes((local / name).read_bytes())


def _download(uri: str, local: Path) -> None:
    """Copy the files of the checkpoint at ``uri`` into the local folder ``local`` (missing ones skipped)."""
    for name in (METADATA_FILE, STATE_FILE):
        remote = Location.parse(uri) / name
        if remote.is_file():
            (local / name).write_bytes(remote.read_bytes())


def write_checkpoint(
    folder: str | Path, metadata: dict[str, Any], state: dict[str, Any], references: tuple[str, ...] = ()
) -> str | Path:
    """Write ``state`` (tensors, via torch.save) and ``metadata`` (JSON) to ``folder`` atomically;
    the metadata entries named in ``references`` are folders, recorded relative to their storage root.

    Everything is written to a sibling temporary folder that is renamed into place, so a crash
    leaves either the old checkpoint or the new one, never half of one. A URI folder is written
    locally first and uploaded (see the module docstring).
    """
    if references:
        recorded = {key: record_reference(metadata[key]) for key in references}
        metadata = {**metadata, **recorded, REFERENCES: list(references)}
    if is_uri(folder):
        with tempfile.TemporaryDirectory() as staging:
            write_checkpoint(Path(staging) / "checkpoint", metadata, state)
            _upload(Path(staging) / "checkpoint", str(folder))
        return str(folder)
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.with_name(f".{folder.name}.tmp-{uuid.uuid4().hex}")
    staging.mkdir()
    torch.save(state, staging / STATE_FILE)
    record = {**metadata, "sha256": _sha256(staging / STATE_FILE)}
    (staging / METADATA_FILE).write_text(json.dumps(record, indent=2, sort_keys=True))
    if folder.exists():
        retired = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex}")
        os.replace(folder, retired)
        os.replace(staging, folder)
        shutil.rmtree(retired)
    else:
        os.replace(staging, folder)
    return folder


def _resolved(metadata: dict[str, Any], folder: str | Path) -> dict[str, Any]:
    """``metadata`` with its references as addresses under the storage root that holds ``folder``."""
    keys = metadata.get(REFERENCES, LEGACY_REFERENCES)
    found = {
        key: resolve_reference(metadata[key], folder) for key in keys if isinstance(metadata.get(key), str)
    }
    return {**metadata, **found}


def read_metadata(folder: str | Path) -> dict[str, Any]:
    """The JSON metadata of a checkpoint folder, references resolved."""
    if is_uri(folder):
        with tempfile.TemporaryDirectory() as local:
            _download(str(folder), Path(local))
            return _read_local_metadata(Path(local), folder)
    return _read_local_metadata(Path(folder), folder)


def _read_local_metadata(local: Path, folder: str | Path) -> dict[str, Any]:
    path = local / METADATA_FILE
    if not path.is_file():
        raise CorruptCheckpointError(f"{folder}: no {METADATA_FILE}; not a bdlsweep checkpoint")
    return _resolved(json.loads(path.read_text()), folder)


def read_checkpoint(
    folder: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metadata and state of a checkpoint folder, after checking the state file's checksum."""
    if is_uri(folder):
        with tempfile.TemporaryDirectory() as local:
            _download(str(folder), Path(local))
            return _read_local_checkpoint(Path(local), folder, map_location)
    return _read_local_checkpoint(Path(folder), folder, map_location)


def _read_local_checkpoint(
    local: Path, folder: str | Path, map_location: str | torch.device
) -> tuple[dict[str, Any], dict[str, Any]]:
    metadata = _read_local_metadata(local, folder)
    state_path = local / STATE_FILE
    if not state_path.is_file() or _sha256(state_path) != metadata.get("sha256"):
        raise CorruptCheckpointError(f"{folder}/{STATE_FILE}: checksum mismatch; the checkpoint is corrupted")
    state = torch.load(state_path, map_location=map_location, weights_only=True)
    return metadata, state
