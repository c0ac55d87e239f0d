"""Refuse to mix results: a storage folder holds one sweep; rerunning with other settings is an error."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bdlsweep.storage.layout import MissingRecordError, UnreadableRecordError
from bdlsweep.sweeps.reading.errors import SpecError
from bdlsweep.sweeps.spec.models import SweepSpec

SHARED_KEYS = ("name", "dataset", "dataset_options", "model", "model_options", "seeds")


def _identity(record: dict[str, Any]) -> dict[str, Any]:
    """What fixes a sweep's results: data, model, seeds and each stage's method, settings and grid."""
    stages = {
        name: {key: stage[key] for key in ("method", "parent", "search", "settings")}
        for name, stage in record["stages"].items()
    }
    cells = [
        {
            **{key: cell[key] for key in ("name", "dataset", "dataset_options", "model", "model_options")},
            "stages": cell.get("settings", {}).get("stages", {}),  # options set for the cell alone
        }
        for cell in record.get("cells", [])  # none in a sweep of one dataset (and in older records)
    ]
    return {**{key: record[key] for key in SHARED_KEYS}, "cells": cells, "stages": stages}


def _check_writable(spec: SweepSpec) -> None:
    """A local storage folder that exists as a writable folder, or can be made in its nearest existing
    parent folder (a bucket's permissions show only when written)."""
    if spec.storage.is_uri:
        return
    folder = Path(spec.storage.path).absolute()
    existing = next(parent for parent in (folder, *folder.parents) if parent.exists())
    if not existing.is_dir():
        raise SpecError(spec.source, "storage", f"{existing} is a file, not a folder (storage: {folder})")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SpecError(spec.source, "storage", f"cannot write to {existing} (storage: {folder})")


def _stored_record(spec: SweepSpec) -> dict[str, Any] | None:
    """The sweep record in the storage folder, None if there is none; a one-line error if unreadable."""
    try:
        return spec.layout.read_record()
    except MissingRecordError:
        return None
    except UnreadableRecordError as error:
        raise SpecError(spec.source, "storage", str(error)) from None


def _started(spec: SweepSpec, stored: dict[str, Any]) -> bool:
    """Whether the stored sweep computed anything: a stage folder, a selection or an evaluation."""
    layout = spec.layout
    folders = [layout.stage(name) for name in stored.get("stages", {})]
    return any(folder.is_dir() for folder in [*folders, layout.selections, layout.evaluation])


def check_storage(spec: SweepSpec) -> None:
    """Raise ``SpecError`` if the storage holds results of a sweep with other settings (run by the dry
    run too, before anything starts).

    Stages present in both must agree; stages may be added. Resources, tracking and evaluation
    settings may change between runs (evaluation is redone when its settings change). A record of a
    run that stopped before computing anything does not bind the folder.
    """
    _check_writable(spec)
    stored = _stored_record(spec)
    if stored is None:
        return
    try:
        old = _identity(stored)
    except (KeyError, TypeError, AttributeError):
        raise SpecError(
            spec.source, "storage", f"{spec.layout.record}: not a bdlsweep sweep record; remove it"
        ) from None
    if not _started(spec, stored):
        return
    new = _identity(json.loads(spec.model_dump_json()))
    differing = [key for key in (*SHARED_KEYS, "cells") if old[key] != new[key]]
    differing += [
        f"stages.{name}"
        for name in old["stages"].keys() & new["stages"].keys()
        if old["stages"][name] != new["stages"][name]
    ]
    if differing:
        raise SpecError(
            spec.source,
            differing[0],
            f"{spec.storage} holds results of this sweep made with a different {differing[0]}; "
            "choose another storage or remove that folder",
        )


def record_sweep(spec: SweepSpec) -> None:
    """Record this sweep in its storage folder (after ``check_storage``): the record holds the sweep
    file's path and overrides, and ``source.yaml`` a copy of the file, so that ``bdlsweep resume`` can
    run it again from the folder alone."""
    try:
        spec.layout.source_copy.write_text(Path(spec.source).read_text())
        spec.layout.record.write_text(json.dumps(json.loads(spec.model_dump_json()), indent=2))
    except OSError as error:
        raise SpecError(spec.source, "storage", f"cannot write {spec.storage}: {error}") from None
