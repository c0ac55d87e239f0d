"""A suite's per-cell settings: stage and evaluate options that a suite entry, or a ``settings_by``
value, sets for its cells over the sweep file's own (e.g. one UCI set's epochs and weight decay).

A suite entry may hold ``stages: {map: {epochs: 300}}`` and ``evaluate: {...}`` beside its dataset and
model; ``settings_by: {dataset.dataset: {yacht: {stages: ...}}}`` sets options for every cell whose
dataset (or model) option has that value, axis values included. Later sources win: the sweep file's
stages, then the suite entry's, then ``settings_by`` in file order. Each stage still runs every cell in
one Tuner, so what makes its trials (method, parent, search, resources, ...) stays the same per cell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bdlsweep.sweeps.reading.errors import SpecError, key_path, kind_of, shown

SETTINGS_KEYS = ("stages", "evaluate")
SHARED_STAGE_KEYS = (
    "method",
    "from",
    "search",
    "searcher",
    "scheduler",
    "resources",
    "max_failures",
    "steps",
    "refit",
)
SHARED_EVALUATE_KEYS = ("methods", "ensemble_file", "reference")


@dataclass(frozen=True)
class CellSettings:
    """The options one cell sets over the sweep file's: per stage, for evaluate, and where in the file
    each option was given (``stages.map.epochs`` → ``suite[1].stages.map.epochs``)."""

    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    evaluate: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        """What the sweep record and the MLflow tags keep of it: the options, not their origins."""
        return {key: value for key, value in (("stages", self.stages), ("evaluate", self.evaluate)) if value}

    def merged(self, other: CellSettings) -> CellSettings:
        """These settings with ``other``'s set over them."""
        return CellSettings(
            {
                name: deep_merge(self.stages.get(name, {}), other.stages.get(name, {}))
                for name in {**self.stages, **other.stages}
            },
            deep_merge(self.evaluate, other.evaluate),
            {**self.origins, **other.origins},
        )

    def without(self, keys: list[str]) -> CellSettings:
        """These settings less every option at or under one of ``keys`` (``stages.map.epochs``): what
        the command line sets or removes is the last word for every cell."""

        def dropped(path: str) -> bool:
            return any(path == key or path.startswith(f"{key}.") for key in keys)

        def kept(mapping: dict[str, Any], prefix: str) -> dict[str, Any]:
            result = {}
            for name, value in mapping.items():
                path = f"{prefix}.{name}"
                if dropped(path):
                    continue
                if isinstance(value, dict) and value:
                    value = kept(value, path)
                    if not value:
                        continue
                result[name] = value
            return result

        origins = {path: where for path, where in self.origins.items() if not dropped(path)}
        return CellSettings(kept(self.stages, "stages"), kept(self.evaluate, "evaluate"), origins)

    def origin(self, key: str) -> str | None:
        """Where the cell's option at ``key`` (or the nearest option under or above it) was given."""
        for path, where in self.origins.items():
            if key == path or key.startswith((f"{path}.", f"{path}[")):
                return where + key[len(path) :]
        below = [where for path, where in self.origins.items() if path.startswith(f"{key}.")]
        return below[0].rpartition(".")[0] if below else None


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` set over it; mappings merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def leaf_paths(mapping: dict[str, Any], prefix: tuple = ()) -> list[tuple]:
    """The key path of every non-mapping value of ``mapping`` (a list counts as one value)."""
    paths = []
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            paths += leaf_paths(value, (*prefix, key))
        else:
            paths.append((*prefix, key))
    return paths


def read_settings(source: str, where: str, raw: Any) -> CellSettings:
    """The ``stages`` / ``evaluate`` options of a suite entry or a ``settings_by`` value at ``where``."""
    if not isinstance(raw, dict):
        raise SpecError(source, where, f"must be a mapping with stages and/or evaluate, got {kind_of(raw)}")
    unknown = sorted(set(raw) - set(SETTINGS_KEYS))
    if unknown:
        raise SpecError(source, f"{where}.{unknown[0]}", "unknown key here (stages, evaluate)")
    stages = raw.get("stages", {})
    evaluate = raw.get("evaluate", {})
    if not isinstance(stages, dict):
        raise SpecError(source, f"{where}.stages", f"must be a mapping of stage names, got {kind_of(stages)}")
    for name, options in stages.items():
        if not isinstance(options, dict):
            problem = f"must be a mapping of the stage's options, got {kind_of(options)}"
            raise SpecError(source, f"{where}.stages.{name}", problem)
        for key in options:
            if key in SHARED_STAGE_KEYS:
                raise SpecError(
                    source,
                    f"{where}.stages.{name}.{key}",
                    "the same for every cell (a stage runs all of a suite's cells in one Tuner); "
                    "set it in the stage itself",
                )
    if not isinstance(evaluate, dict):
        raise SpecError(source, f"{where}.evaluate", f"must be a mapping, got {kind_of(evaluate)}")
    for key in evaluate:
        if key in SHARED_EVALUATE_KEYS:
            raise SpecError(
                source, f"{where}.evaluate.{key}", "the same for every cell (the suite table's rows)"
            )
    origins = {key_path(("stages", *path)): key_path((where, "stages", *path)) for path in leaf_paths(stages)}
    origins.update(
        {key_path(("evaluate", *path)): key_path((where, "evaluate", *path)) for path in leaf_paths(evaluate)}
    )
    return CellSettings(dict(stages), dict(evaluate), origins)


def _same_value(given: Any, value: Any) -> bool:
    """Whether a ``settings_by`` key (as YAML read it) names the option value ``value``."""
    return given == value or str(given) == str(value)


@dataclass(frozen=True)
class SettingsBy:
    """The sweep file's ``settings_by``: option path (``dataset.dataset``) → option value → settings."""

    source: str
    values: dict[str, list[tuple[Any, CellSettings]]]

    @classmethod
    def read(cls, source: str, raw: Any) -> SettingsBy:
        """Check ``settings_by`` as the file gives it (None: no per-value settings)."""
        if raw is None:
            return cls(source, {})
        if not isinstance(raw, dict):
            raise SpecError(source, "settings_by", f"must be a mapping of option paths, got {kind_of(raw)}")
        values: dict[str, list[tuple[Any, CellSettings]]] = {}
        for path, by_value in raw.items():
            part, _, option = str(path).partition(".")
            if part not in ("dataset", "model") or not option or "." in option:
                raise SpecError(
                    source, f"settings_by.{path}", "name a dataset or model option: dataset.<option>"
                )
            if not isinstance(by_value, dict) or not by_value:
                problem = f"must map values of {path} to their settings, got {kind_of(by_value)}"
                raise SpecError(source, f"settings_by.{path}", problem)
            values[str(path)] = [
                (value, read_settings(source, f"settings_by.{path}.{value}", settings))
                for value, settings in by_value.items()
            ]
        return cls(source, values)

    def for_cell(self, dataset: dict[str, Any], model: dict[str, Any]) -> list[tuple[str, int]]:
        """(option path, index of the value) of each ``settings_by`` value that a cell's options have."""
        parts = {"dataset": dataset, "model": model}
        matches = []
        for path, entries in self.values.items():
            part, _, option = path.partition(".")
            if option in parts[part]:
                matches += [
                    (path, index)
                    for index, (given, _) in enumerate(entries)
                    if _same_value(given, parts[part][option])
                ]
        return matches

    def settings(self, path: str, index: int) -> CellSettings:
        """The settings of the ``index``-th value given for ``path``."""
        return self.values[path][index][1]

    def check_unused(self, used: set[tuple[str, int]], takes: Callable[[str, Any], bool | None]) -> None:
        """A ``settings_by`` value that no cell has must still be a value of its option (a run narrowed
        by an override leaves some unused); ``takes(path, value)``: whether some cell's option takes
        it, None when no cell has the option. A misspelt value would otherwise set nothing."""
        for path, entries in self.values.items():
            for index, (given, _) in enumerate(entries):
                if (path, index) in used:
                    continue
                fits = takes(path, given)
                if fits is None:
                    raise SpecError(
                        self.source,
                        f"settings_by.{path}",
                        f"no cell's {path.partition('.')[0]} has this option",
                    )
                if not fits:
                    raise SpecError(
                        self.source, f"settings_by.{path}.{given}", f"{shown(given)} is not a value of {path}"
                    )
