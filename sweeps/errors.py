"""Sweep-file errors as one line naming the file, the key path and the problem."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ValidationError


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
    first = error.errors()[0]
    loc = [part for part in first["loc"] if part != "__root__"]
    if first["type"] == "extra_forbidden":
        holder = _model_at(model, loc[:-1])
        known = []
        if holder is not None:
            known = [f.alias or name for name, f in holder.model_fields.items()]
        problem = f"unknown key {loc[-1]!r}{close_match(str(loc[-1]), known)}"
    elif first["type"] == "missing":
        problem = "required key is missing"
    else:
        problem = f"{first['msg']} (got {first['input']!r})"
    return SpecError(source, key_path([*prefix, *loc]), problem)
