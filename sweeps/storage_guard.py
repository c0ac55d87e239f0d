"""Refuse to mix results: a storage folder holds one sweep; rerunning with other settings is an error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bdlsweep.sweeps.errors import SpecError
from bdlsweep.sweeps.spec import SweepSpec

SHARED_KEYS = ("name", "dataset", "dataset_options", "model", "model_options", "seeds")


def _identity(record: dict[str, Any]) -> dict[str, Any]:
    """What fixes a sweep's results: data, model, seeds and each stage's method, settings and grid."""
    stages = {
        name: {key: stage[key] for key in ("method", "parent", "search", "settings")}
        for name, stage in record["stages"].items()
    }
    return {**{key: record[key] for key in SHARED_KEYS}, "stages": stages}


def check_and_record(spec: SweepSpec) -> None:
    """Raise ``SpecError`` if the storage holds a sweep with other settings; else record this one.

    Stages present in both must agree; stages may be added. Resources, tracking and evaluation
    settings may change between runs (evaluation is redone when its settings change). The record
    holds the sweep file's path and overrides, and ``source.yaml`` a copy of the file, so that
    ``bdlsweep resume`` can run it again from the folder alone.
    """
    current = json.loads(spec.model_dump_json())
    path = spec.layout.record
    try:
        stored_text = path.read_text() if path.is_file() else None
    except OSError as error:
        raise SpecError(spec.source, "storage", f"cannot read {path}: {error}") from None
    if stored_text is not None:
        stored = _identity(json.loads(stored_text))
        new = _identity(current)
        differing = [key for key in SHARED_KEYS if stored[key] != new[key]]
        differing += [
            f"stages.{name}"
            for name in stored["stages"].keys() & new["stages"].keys()
            if stored["stages"][name] != new["stages"][name]
        ]
        if differing:
            raise SpecError(
                spec.source,
                differing[0],
                f"{spec.storage} holds results of this sweep made with a different {differing[0]}; "
                "choose another storage or remove that folder",
            )
    try:
        spec.layout.source_copy.write_text(Path(spec.source).read_text())
        path.write_text(json.dumps(current, indent=2))
    except OSError as error:
        raise SpecError(spec.source, "storage", f"cannot write {spec.storage}: {error}") from None
