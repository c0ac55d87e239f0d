"""A sweep file's suite: the (dataset, model) cells it runs, from ``suite:`` entries and list-valued options.

An option given a list that its type does not take (``split: [0, 1, 2]`` or ``split: range(20)`` for
an integer ``split``; ``dataset: [boston, yacht]`` for a set name) is an axis: the sweep runs every
combination of the axes' values, crossed with the seeds. ``suite:`` lists (dataset, model) pairs
(each may leave one to the top-level ``dataset`` / ``model``, and may name itself); each pair's
own list-valued options expand it further. A sweep without either is one cell with no name, and its
storage and MLflow records are exactly those of a sweep of one dataset. A suite entry's ``stages`` and
``evaluate``, and ``settings_by``, set options per cell (see ``cell_settings``).
"""

from __future__ import annotations

import itertools
import re
import types
import typing
from collections import abc
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from bdlsweep.sweeps.reading.cell_settings import CellSettings, SettingsBy, read_settings
from bdlsweep.sweeps.reading.errors import SpecError, kind_of, shown
from bdlsweep.trainables.data import DATASETS, dataset_options
from bdlsweep.trainables.models import MODELS, model_options

MAX_CELLS = 10_000
RANGE = re.compile(r"^\s*range\(\s*(-?\d+)\s*(?:,\s*(-?\d+)\s*)?\)\s*$")
UNSAFE = re.compile(r"[^A-Za-z0-9_.=,-]")


@dataclass(frozen=True)
class CellSource:
    """One cell as the sweep file gives it: raw dataset and model mappings, the axis values
    (``{"dataset.split": 3}``) and suite-entry name that tell it from the others, and the stage and
    evaluate options set for it."""

    dataset: dict[str, Any]
    model: dict[str, Any]
    axes: dict[str, Any] = field(default_factory=dict)
    entry: str = ""
    settings: CellSettings = field(default_factory=CellSettings)

    @property
    def name(self) -> str:
        """A name fit for folders and MLflow tags: ``suite-entry,split=3`` (empty for a lone cell)."""
        parts = [self.entry] if self.entry else []
        parts += [f"{key.rpartition('.')[2]}={value}" for key, value in self.axes.items()]
        return UNSAFE.sub("_", ",".join(parts))


def _takes_sequences(annotation: Any) -> bool:
    """Whether an option's type holds a list or tuple (then only a list of lists is an axis)."""
    if annotation is None or annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return any(_takes_sequences(arg) for arg in typing.get_args(annotation) if arg is not type(None))
    if origin is typing.Literal:
        return False
    kind = origin or annotation
    return (
        isinstance(kind, type)
        and issubclass(kind, (list, tuple, set, frozenset, abc.Sequence))
        and kind is not str
    )


def _axis_values(source: str, key: str, value: Any, annotation: Any) -> list[Any] | None:
    """The values of ``key`` when ``value`` is an axis: a list where the option's type takes no list
    (a list of lists where it does), or ``range(...)`` where it takes no text; None for a single value."""
    if isinstance(value, str) and (match := RANGE.match(value)):
        try:
            TypeAdapter(annotation if annotation is not None else Any).validate_python(value)
            takes_text = annotation is not None
        except ValidationError:
            takes_text = False
        if takes_text:
            return None
        low, high = (0, int(match[1])) if match[2] is None else (int(match[1]), int(match[2]))
        if high <= low:
            raise SpecError(source, key, f"{value} is empty")
        return list(range(low, high))
    if not isinstance(value, list):
        return None
    if _takes_sequences(annotation) and not (value and all(isinstance(item, list) for item in value)):
        return None
    if not value:
        raise SpecError(source, key, "an empty list: give at least one value")
    if len({repr(item) for item in value}) != len(value):
        raise SpecError(source, key, f"values repeat in {shown(value)}")
    return value


def _option_axes(
    source: str, prefix: str, raw: dict[str, Any], registry: dict, options_of
) -> dict[str, tuple[str, list]]:
    """``prefix.option`` → (option, values) for each option of ``raw`` that is an axis."""
    name = raw.get("name")
    known = options_of(name) if isinstance(name, str) and name in registry else {}
    axes = {}
    for option, value in raw.items():
        parameter = known.get(option)
        if option == "name" or parameter is None:  # unknown options are reported by validation
            continue
        annotation = None if parameter.annotation is parameter.empty else parameter.annotation
        values = _axis_values(source, f"{prefix}.{option}", value, annotation)
        if values is not None:
            axes[f"{prefix}.{option}"] = (option, values)
    return axes


def _entries(source: str, raw: dict[str, Any]) -> list[tuple[str, dict, dict, str, CellSettings]]:
    """(entry name, dataset, model, key prefix, settings) per suite entry; the top level alone without
    ``suite``."""
    suite = raw.get("suite")
    if suite is None:
        return [("", raw.get("dataset"), raw.get("model"), "", CellSettings())]
    if not isinstance(suite, list) or not suite:
        raise SpecError(
            source, "suite", f"must be a non-empty list of {{dataset, model}} mappings, got {kind_of(suite)}"
        )
    entries = []
    for index, entry in enumerate(suite):
        key = f"suite[{index}]"
        if not isinstance(entry, dict):
            raise SpecError(source, key, f"must be a mapping with dataset and/or model, got {kind_of(entry)}")
        unknown = set(entry) - {"name", "dataset", "model", "stages", "evaluate"}
        if unknown:
            raise SpecError(
                source,
                f"{key}.{sorted(unknown)[0]}",
                "unknown key of a suite entry (name, dataset, model, stages, evaluate)",
            )
        given = {part: entry[part] for part in ("stages", "evaluate") if part in entry}
        settings = read_settings(source, key, given)
        if "name" in entry and entry["name"] in [
            other.get("name") for other in suite[:index] if isinstance(other, dict)
        ]:
            raise SpecError(source, f"{key}.name", f"{shown(entry['name'])} names an earlier entry too")
        dataset, model = entry.get("dataset", raw.get("dataset")), entry.get("model", raw.get("model"))
        label = entry.get("name") or "-".join(
            str(part.get("name")) for part in (dataset, model) if isinstance(part, dict)
        )
        entries.append((str(label), dataset, model, key, settings))
    labels = [label for label, *_ in entries]
    return [
        (label if labels.count(label) == 1 else f"{label}-{index}", dataset, model, key, settings)
        for index, (label, dataset, model, key, settings) in enumerate(entries)
    ]


def _option_takes(names: dict[str, set[str]], path: str, value: Any) -> bool | None:
    """Whether option ``path`` (``dataset.split``) of some cell's dataset or model takes ``value``; None
    when none of them has that option."""
    part, _, option = path.partition(".")
    registry, options_of = (DATASETS, dataset_options) if part == "dataset" else (MODELS, model_options)
    parameters = [options_of(name).get(option) for name in sorted(names[part]) if name in registry]
    parameters = [parameter for parameter in parameters if parameter is not None]
    if not parameters:
        return None
    for parameter in parameters:
        annotation = Any if parameter.annotation is parameter.empty else parameter.annotation
        try:
            TypeAdapter(annotation).validate_python(value)
            return True
        except ValidationError:
            continue
    return False


def expand_cells(source: str, raw: dict[str, Any]) -> list[CellSource]:
    """Every cell of the sweep file ``raw`` (one, unnamed, for a sweep of one dataset and model)."""
    cells = []
    settings_by = SettingsBy.read(source, raw.get("settings_by"))
    used: set[tuple[str, int]] = set()
    names: dict[str, set[str]] = {"dataset": set(), "model": set()}
    for entry, dataset, model, key, settings in _entries(source, raw):
        for part, name in ((dataset, "dataset"), (model, "model")):
            if not isinstance(part, dict):
                where = f"{key}.{name}" if key else name
                problem = (
                    "required key is missing" if part is None else f"must be a mapping, got {kind_of(part)}"
                )
                raise SpecError(source, where, problem)
        prefix = f"{key}." if key else ""
        dataset_axes = _option_axes(source, f"{prefix}dataset", dataset, DATASETS, dataset_options)
        model_axes = _option_axes(source, f"{prefix}model", model, MODELS, model_options)
        keys = [*dataset_axes, *model_axes]
        axes = {**dataset_axes, **model_axes}
        for values in itertools.product(*(values for _, values in axes.values())):
            chosen = dict(zip(keys, values, strict=True))
            cell_dataset = {**dataset, **{axes[k][0]: v for k, v in chosen.items() if k in dataset_axes}}
            cell_model = {**model, **{axes[k][0]: v for k, v in chosen.items() if k in model_axes}}
            cell_settings = settings
            for path, index in settings_by.for_cell(cell_dataset, cell_model):
                cell_settings = cell_settings.merged(settings_by.settings(path, index))
                used.add((path, index))
            names["dataset"].add(str(cell_dataset.get("name")))
            names["model"].add(str(cell_model.get("name")))
            cells.append(CellSource(cell_dataset, cell_model, chosen, entry, cell_settings))
            if len(cells) > MAX_CELLS:
                raise SpecError(
                    source, key or "dataset", f"more than {MAX_CELLS} datasets × models in the suite"
                )
    settings_by.check_unused(used, lambda path, value: _option_takes(names, path, value))
    if len(cells) > 1 and len({cell.name for cell in cells}) != len(cells):
        raise SpecError(source, "suite", "two suite entries give the same cells; name them apart (name: ...)")
    return cells
