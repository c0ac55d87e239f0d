"""Sweep-file errors as one line naming the file, the key path and the problem."""

from __future__ import annotations

import difflib
import reprlib
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

SHOWN_CHARACTERS = 80
_BOUNDED = reprlib.Repr()
_BOUNDED.maxlevel, _BOUNDED.maxstring, _BOUNDED.maxother = 3, SHOWN_CHARACTERS, SHOWN_CHARACTERS
_BOUNDED.maxdict = _BOUNDED.maxlist = _BOUNDED.maxtuple = _BOUNDED.maxset = 4


def shown(value: Any) -> str:
    """``repr(value)`` cut to about 80 characters, built from a bounded view of it (a YAML alias bomb
    would otherwise expand to gigabytes)."""
    text = _BOUNDED.repr(value)
    return text if len(text) <= SHOWN_CHARACTERS else f"{text[: SHOWN_CHARACTERS - 1]}…"


def kind_of(value: Any) -> str:
    """What a YAML value is, in the sweep file's words: a mapping, a list, a string, a number, ..."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return f"a {type(value).__name__}"


class SpecError(ValueError):
    """A problem with a sweep file or an override, reported before anything starts."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"{source}: {key or '<top level>'}: {problem}")


def key_path(parts: Iterable) -> str:
    """Dotted key path; list indices in brackets (``stages.swag.search.lr[2]``)."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _model_at(model: type[BaseModel], parts: Sequence) -> type[BaseModel] | None:
    """The pydantic model that holds the last key of ``parts``, walking nested fields."""
    for part in parts:
        fields = {
            **model.model_fields,
            **{f.alias: f for f in model.model_fields.values() if f.alias},
        }
        if part not in fields:
            return None
        candidates = [fields[part].annotation]
        nested = None
        while candidates:
            annotation = candidates.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                nested = annotation
                break
            if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
                candidates.extend(typing.get_args(annotation))
        if nested is None:
            return None
        model = nested
    return model


def close_match(word: str, choices: Iterable[str]) -> str:
    """'; did you mean X?' for the closest choice, or '' when nothing is close."""
    matches = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {matches[0]!r}?" if matches else ""


def from_validation_error(
    source: str, error: ValidationError, model: type[BaseModel], prefix: Sequence = ()
) -> SpecError:
    """The first pydantic error as a SpecError, with a suggestion for a misspelt key."""
    errors = error.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])  # a typo explains a miss
    loc = [part for part in first["loc"] if part != "__root__"]
    if first["type"] == "extra_forbidden":
        holder = _model_at(model, loc[:-1])
        known = []
        if holder is not None:
            known = [f.alias or name for name, f in holder.model_fields.items()]
        problem = f"unknown key {shown(loc[-1])}{close_match(str(loc[-1]), known)}"
    elif first["type"] == "missing":
        problem = "required key is missing"
    else:
        message = first["msg"].removeprefix("Value error, ")
        problem = f"{message} (got {shown(first['input'])})"
    return SpecError(source, key_path([*prefix, *loc]), problem)
