"""A stage's ``search``: named grids and ranges looked up, inline ranges built, values checked."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from bdlsweep.search_spaces import DEFAULT_OPTUNA_SPACES, GRIDS, RANGES, Range, grid
from bdlsweep.sweeps.reading.errors import SpecError, close_match, key_path, shown
from bdlsweep.trainables.method import Method
from bdlsweep.trainables.settings import MethodSettings


def _set_path(values: dict[str, Any], parts: list[str], value: Any) -> dict[str, Any]:
    result = dict(values)
    if len(parts) == 1:
        result[parts[0]] = value
    else:
        result[parts[0]] = _set_path(dict(result.get(parts[0], {})), parts[1:], value)
    return result


def _check_value(source: str, where: str, method: Method, base: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    try:
        method.settings.model_validate(_set_path(base, parts, value))
    except ValidationError as error:
        first = error.errors()[0]
        if first["type"] == "extra_forbidden":
            hint = close_match(parts[-1], method.settings.model_fields)
            problem = f"{method.name} has no hyper-parameter {shown(key)}{hint}"
        else:
            problem = f"value {shown(value)}: {first['msg'].removeprefix('Value error, ')}"
        raise SpecError(source, where, problem) from None


def resolve_search(
    source: str, prefix: tuple, method: Method, settings: MethodSettings, raw: str | dict
) -> dict[str, list[Any] | Range]:
    """Named grids and ranges looked up, inline ranges built, every value checked against the method."""
    if raw == "optuna":
        raw = dict(DEFAULT_OPTUNA_SPACES.get(method.name, {}))
        if not raw:
            raise SpecError(
                source, key_path([*prefix, "search"]), f"no default Optuna space for {method.name}"
            )
    base = settings.model_dump()
    search: dict[str, list[Any] | Range] = {}
    for key, values in raw.items():
        where = key_path([*prefix, "search", key])
        if isinstance(values, str):
            if values not in GRIDS and values not in RANGES:
                hint = close_match(values, [*GRIDS, *RANGES])
                raise SpecError(source, where, f"unknown search space {shown(values)}{hint}")
            values = grid(values) if values in GRIDS else RANGES[values]
        if isinstance(values, dict):
            if len(values) != 1 or len(next(iter(values.values()))) != 2:
                raise SpecError(source, where, "a range is {uniform|loguniform|randint: [low, high]}")
            kind, (low, high) = next(iter(values.items()))
            values = Range(kind, low, high)
        if isinstance(values, Range):
            if not values.low < values.high:
                raise SpecError(source, where, f"range needs low < high (got {values.low}, {values.high})")
            if values.kind == "loguniform" and values.low <= 0:
                raise SpecError(source, where, "a loguniform range needs low > 0")
            for value in (values.low, values.high):
                _check_value(source, where, method, base, key, value)
        else:
            if not values:
                raise SpecError(source, where, "empty grid")
            for value in values:
                _check_value(source, where, method, base, key, value)
        search[key] = values if isinstance(values, Range) else list(values)
    return search
