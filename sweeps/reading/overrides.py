"""``key=value`` and ``~key`` command-line overrides applied to a sweep file's raw mapping."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import yaml

from bdlsweep.sweeps.reading.errors import SpecError

SOURCE = "command line"


def parse_override(text: str) -> tuple[list[str], Any]:
    """``stages.swag.epochs=5`` → (["stages", "swag", "epochs"], 5); values are read as YAML."""
    key, sep, value = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        raise SpecError(SOURCE, text, "an override must look like key.path=value")
    try:
        return parts, yaml.safe_load(value)
    except yaml.YAMLError as error:
        problem = str(error).splitlines()[0]
        raise SpecError(SOURCE, key, f"value is not valid YAML: {problem}") from None


def _delete(raw: dict[str, Any], text: str) -> None:
    """``~stages.laplace_nf``: remove that key (Hydra's spelling), e.g. to run part of a paper's sweep."""
    parts = text[1:].strip().split(".")
    if "=" in text or not all(parts):
        raise SpecError(SOURCE, text, "a deletion must look like ~key.path, with no value")
    node = raw
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            where = ".".join(parts[: depth + 1])
            raise SpecError(SOURCE, text[1:], f"cannot delete it: {where} is not in the sweep file")
        if depth == len(parts) - 1:
            del node[part]
        node = node.get(part)


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``raw`` with every override set (creating intermediate mappings as needed) or, for
    ``~key``, that key removed."""
    result = copy.deepcopy(raw)
    for text in overrides:
        if text.startswith("~"):
            _delete(result, text)
            continue
        parts, value = parse_override(text)
        node = result
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise SpecError(SOURCE, where, f"is a {type(child).__name__}, not a mapping")
            node = child
        node[parts[-1]] = value
    return result


def blamed_override(key: str, overrides: Sequence[str]) -> str | None:
    """The last override that set ``key`` or a key above it (``stages.swag`` sets
    ``stages.swag.epochs``; ``evaluate.ensemble_sizes`` sets ``evaluate.ensemble_sizes[1]``), if any."""
    for text in reversed(overrides):
        given = text.lstrip("~").partition("=")[0].strip()
        if given and (key == given or key.startswith((f"{given}.", f"{given}["))):
            return text
    return None
