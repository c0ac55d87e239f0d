"""Names and paths of a sweep file that become folder names, MLflow names and MLflow search strings,
and the names it looks up in a registry (dataset, model, method): checked before anything starts, so
a bad one is a one-line error rather than a failure after Ray."""

from __future__ import annotations

import os
from typing import Any

from bdlsweep.storage.locations import Location
from bdlsweep.sweeps.reading.errors import SpecError, kind_of, shown

MAX_NAME_CHARACTERS = 100  # sweep and stage names: folder names and MLflow tags, with room for suffixes
MAX_EXPERIMENT_CHARACTERS = 500  # MLflow's limit on an experiment name
MAX_FOLDER_NAME_BYTES = 255  # a folder name on Linux, macOS and common network file systems
MAX_PATH_BYTES = 1024  # leaves room under PATH_MAX (4096) for the trial folders Ray Tune nests inside


def _text(source: str, key: str, value: str, limit: int) -> None:
    """A name MLflow's search syntax can quote, of printable characters, at most ``limit`` long."""
    if len(value) > limit:
        raise SpecError(source, key, f"{len(value)} characters, at most {limit} allowed: {shown(value)}")
    if not value.isprintable():
        raise SpecError(source, key, f"holds a control character: {shown(value)}")
    if "'" in value and '"' in value:
        raise SpecError(
            source, key, f"holds both ' and \" (MLflow's search syntax can quote one): {shown(value)}"
        )


def check_name(source: str, key: str, value: str) -> None:
    """A sweep or stage name: it names folders (no '/') and MLflow runs and tags."""
    _text(source, key, value, MAX_NAME_CHARACTERS)
    if "/" in value or value in {".", ".."}:
        raise SpecError(
            source, key, f"names a folder, so it may not be '.', '..' or hold '/': {shown(value)}"
        )


def check_experiment(source: str, key: str, value: str) -> None:
    """An MLflow experiment name."""
    _text(source, key, value, MAX_EXPERIMENT_CHARACTERS)


def check_storage(source: str, key: str, storage: Location) -> None:
    """A storage folder (local path or URI) whose folder names and length the file system accepts."""
    text = str(storage)
    _text(source, key, text, MAX_PATH_BYTES)
    if len(os.fsencode(text)) > MAX_PATH_BYTES:
        raise SpecError(source, key, f"longer than {MAX_PATH_BYTES} bytes: {shown(text)}")
    for part in text.split("/"):
        if len(os.fsencode(part)) > MAX_FOLDER_NAME_BYTES:
            raise SpecError(
                source, key, f"a folder name longer than {MAX_FOLDER_NAME_BYTES} bytes: {shown(part)}"
            )


def registry_name(source: str, key: str, value: Any) -> str:
    """``value`` when it is a name (a string) to look up in a registry (a dataset, model or method);
    a one-line error naming ``key`` otherwise."""
    if value is None:
        raise SpecError(source, key, "required key is missing")
    if not isinstance(value, str):
        raise SpecError(source, key, f"must be a name (a string), got {kind_of(value)}: {shown(value)}")
    return value
