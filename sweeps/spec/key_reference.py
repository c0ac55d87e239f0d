"""Every key a sweep file may set (type, default, allowed values, description), read from the pydantic
models that validate it, so the documentation's reference pages cannot drift from what is checked."""

from __future__ import annotations

import inspect
import json
import types
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bdlsweep.sweeps.spec.models import StageFields, SweepFile

# the top level (its sections expanded), and the keys every stage has besides its method's settings
SWEEP_FILE_SECTIONS: tuple[tuple[str, type[BaseModel]], ...] = (
    ("", SweepFile),
    ("stages.<name>.", StageFields),
)
_BOUNDS = (
    (annotated_types.Gt, "gt", "> {}"),
    (annotated_types.Ge, "ge", "≥ {}"),
    (annotated_types.Lt, "lt", "< {}"),
    (annotated_types.Le, "le", "≤ {}"),
    (annotated_types.MinLen, "min_length", "at least {} items"),
    (annotated_types.MaxLen, "max_length", "at most {} items"),
)


@dataclass(frozen=True)
class KeyDoc:
    """One key: its dotted path, type, default, allowed values and one-line description."""

    key: str
    type: str
    default: str
    allowed: str
    description: str


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The settings model a key holds (itself or inside ``X | None``), if it holds one."""
    candidates = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    return models[0] if models else None


def type_name(annotation: Any) -> str:
    """A reader's name for a type: ``int``, ``list of int``, ``float or null``, ``mapping``, ``choice``."""
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is type(None):
        return "null"
    if annotation is Any:
        return "any"
    if origin is Literal:
        return "choice"
    if origin is Annotated:
        return type_name(args[0])
    if origin in (Union, types.UnionType):
        return " or ".join(dict.fromkeys(type_name(arg) for arg in args))
    if origin in (list, tuple):
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict or annotation is dict:
        return "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    return getattr(annotation, "__name__", str(annotation))


def _choices(annotation: Any) -> list[Any]:
    """The values a ``Literal`` (or a union holding some) allows."""
    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    if get_origin(annotation) in (Union, types.UnionType):
        return [value for arg in get_args(annotation) for value in _choices(arg)]
    return []


def _short(value: Any) -> str:
    """A value as a sweep file would write it, short (``2.5e-4``, ``[1, 2]``, ``null``)."""
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def _listed(choices: list[Any]) -> str:
    return ", ".join("null" if choice is None else str(choice) for choice in choices)


def allowed_values(field: FieldInfo) -> str:
    """The field's choices and bounds, e.g. ``one of sgd, adam``, ``each one of a, b`` or ``> 0, < 1``."""
    annotation = field.annotation
    choices = _choices(annotation)
    if choices:
        return "one of " + _listed(choices)
    if get_origin(annotation) in (list, tuple) and get_args(annotation) and _choices(get_args(annotation)[0]):
        return "each one of " + _listed(_choices(get_args(annotation)[0]))
    nested = [  # the bounds of an ``Annotated`` inside ``X | None``
        rule
        for arg in get_args(annotation)
        if get_origin(arg) is Annotated
        for constraint in arg.__metadata__
        for rule in getattr(constraint, "metadata", [constraint])
    ]
    bounds = [
        text.format(getattr(rule, attribute))
        for rule in [*field.metadata, *nested]
        for kind, attribute, text in _BOUNDS
        if isinstance(rule, kind)
    ]
    if field.annotation is str and bounds == ["at least 1 items"]:
        return "not empty"
    return ", ".join(bounds)


def default_of(field: FieldInfo) -> Any:
    """The field's default value (``PydanticUndefined`` when it has none)."""
    if field.default_factory is not None:
        return field.default_factory()
    return field.default


def model_keys(model: type[BaseModel], prefix: str = "", defaults: BaseModel | None = None) -> list[KeyDoc]:
    """Every key of ``model`` under ``prefix``, nested settings models expanded below their key;
    ``defaults``: the instance a nested model's defaults come from (MAP's optimizer is Nesterov)."""
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        default = default_of(field) if defaults is None else getattr(defaults, name)
        rows.append(
            KeyDoc(
                key,
                type_name(field.annotation),
                "required" if default is PydanticUndefined else _short(default),
                allowed_values(field),
                (field.description or "").replace("\n", " "),
            )
        )
        nested = _nested_model(field.annotation)
        if nested is not None:
            rows += model_keys(nested, f"{key}.", default if isinstance(default, BaseModel) else None)
    return rows


def option_keys(parameters: dict[str, inspect.Parameter], prefix: str) -> list[KeyDoc]:
    """Every option of a loader or model constructor (its keyword arguments) under ``prefix``: type,
    default and allowed values read from the annotation, as pydantic checks them."""
    rows = []
    for name, parameter in parameters.items():
        required = parameter.default is inspect.Parameter.empty
        field = FieldInfo.from_annotated_attribute(
            parameter.annotation, PydanticUndefined if required else parameter.default
        )
        default = "required" if required else _short(default_of(field))
        key = f"{prefix}{name}"
        rows.append(KeyDoc(key, type_name(field.annotation), default, allowed_values(field), ""))
    return rows


def markdown_table(rows: list[KeyDoc], described: bool = True) -> str:
    """The rows as a Markdown table; without the description column when not ``described`` (options
    whose descriptions live on hand-written pages)."""
    headers = ["key", "type", "default", "allowed", *(["description"] if described else [])]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        cells = [f"`{row.key}`", row.type, f"`{row.default}`", row.allowed, row.description][: len(headers)]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def sweep_file_keys() -> dict[str, list[KeyDoc]]:
    """The sweep file's keys by section (``""`` is the top level), as the models validate them."""
    return {prefix: model_keys(model, prefix) for prefix, model in SWEEP_FILE_SECTIONS}
