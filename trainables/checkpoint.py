"""Checkpoint folders written atomically, with a checksum that detects corrupted state files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch

STATE_FILE = "state.pt"
METADATA_FILE = "metadata.json"


class CorruptCheckpointError(RuntimeError):
    """A checkpoint folder whose state file is missing or does not match its recorded checksum."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checkpoint(folder: str | Path, metadata: dict[str, Any], state: dict[str, Any]) -> Path:
    """Write ``state`` (tensors, via torch.save) and ``metadata`` (JSON) to ``folder`` atomically.

    Everything is written to a sibling temporary folder that is renamed into place, so a crash
    leaves either the old checkpoint or the new one, never half of one.
    """
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


def read_metadata(folder: str | Path) -> dict[str, Any]:
    """The JSON metadata of a checkpoint folder."""
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        raise CorruptCheckpointError(f"{folder}: no {METADATA_FILE}; not a bdlsweep checkpoint")
    return json.loads(path.read_text())


def read_checkpoint(
    folder: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metadata and state of a checkpoint folder, after checking the state file's checksum."""
    metadata = read_metadata(folder)
    state_path = Path(folder) / STATE_FILE
    if not state_path.is_file() or _sha256(state_path) != metadata.get("sha256"):
        raise CorruptCheckpointError(f"{state_path}: checksum mismatch; the checkpoint is corrupted")
    state = torch.load(state_path, map_location=map_location, weights_only=True)
    return metadata, state
