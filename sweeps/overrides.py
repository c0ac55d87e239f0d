"""``key=value`` command-line overrides applied to a sweep file's raw mapping before validation."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import yaml

from bdlsweep.sweeps.errors import SpecError

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


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``raw`` with every override set, creating intermediate mappings as needed."""
    result = copy.deepcopy(raw)
    for text in overrides:
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
