"""A sweep's stages validated: each against its method's settings and search space, ordered so that a
stage comes after the one it starts from, and a training length in steps turned into epochs."""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import BaseModel, ValidationError, create_model

from bdlsweep.search_spaces import Range
from bdlsweep.sweeps.reading.errors import SpecError, close_match, from_validation_error, key_path, shown
from bdlsweep.sweeps.reading.name_checks import registry_name
from bdlsweep.sweeps.spec.models import SearcherSpec, StageFields, StageSpec
from bdlsweep.sweeps.spec.search_resolution import resolve_search
from bdlsweep.sweeps.spec.step_budget import BUDGETED, takes_steps, training_set_size, with_epochs
from bdlsweep.trainables.method import Method
from bdlsweep.trainables.registry import METHODS


@functools.cache
def _stage_model(method_name: str) -> type[BaseModel]:
    """The pydantic model of a stage running ``method_name`` (built once per process)."""
    method = METHODS[method_name]
    return create_model(
        f"{method.name}_stage",
        __base__=(StageFields, method.settings),
        method=(Literal[method.name], ...),
    )


def validate_stage(source: str, name: str, raw: dict[str, Any]) -> StageSpec:
    """One stage of the sweep file checked against its method's settings, search space and reports."""
    prefix = ("stages", name)
    if not isinstance(raw, dict):
        raise SpecError(source, key_path(prefix), "a stage must be a mapping")
    method_name = registry_name(source, key_path([*prefix, "method"]), raw.get("method"))
    if method_name not in METHODS:
        hint = close_match(method_name, METHODS)
        known = ", ".join(METHODS)
        raise SpecError(
            source,
            key_path([*prefix, "method"]),
            f"unknown method {shown(method_name)}{hint}; known: {known}",
        )
    method = METHODS[method_name]
    model = _stage_model(method.name)
    try:
        stage = model.model_validate(raw)
    except ValidationError as error:
        raise from_validation_error(source, error, model, prefix=prefix) from None
    settings = method.settings.model_validate(
        {key: getattr(stage, key) for key in method.settings.model_fields}
    )
    search = resolve_search(source, prefix, method, settings, stage.search)
    searcher = stage.searcher
    if searcher is None and any(isinstance(values, Range) for values in search.values()):
        searcher = SearcherSpec()
    _check_step_budget(source, prefix, method, stage)
    if stage.scheduler is not None and method.steps is None:
        raise SpecError(
            source,
            key_path([*prefix, "scheduler"]),
            f"method {method.name} reports once per trial; early stopping needs a report per step",
        )
    return StageSpec(
        name=name,
        method=method.name,
        parent=stage.parent,
        search=search,
        searcher=searcher,
        scheduler=stage.scheduler,
        resources=stage.resources,
        max_failures=stage.max_failures,
        settings=settings,
        steps=stage.steps,
        refit=stage.refit,
    )


def _check_step_budget(source: str, prefix: tuple[str, ...], method: Method, stage: BaseModel) -> None:
    """``steps`` needs a method trained in minibatch epochs, no ``epochs`` beside it, one batch size."""
    if stage.steps is None:
        return
    key = key_path([*prefix, "steps"])
    if not takes_steps(method.settings):
        raise SpecError(source, key, f"method {method.name} does not train in epochs of minibatches")
    if "epochs" in stage.model_fields_set:
        epochs = key_path([*prefix, "epochs"])
        raise SpecError(source, key, f"give steps or epochs, not both (drop epochs, e.g. ~{epochs})")
    searched = [name for name in BUDGETED if isinstance(stage.search, dict) and name in stage.search]
    if searched:
        raise SpecError(source, key, f"steps count epochs of one batch size; {searched[0]} is searched")


def dependency_order(source: str, stages: dict[str, StageSpec]) -> dict[str, StageSpec]:
    """The stages, each after the stage it starts from; a missing, cyclic or unfit ``from`` is an error."""
    ordered: dict[str, StageSpec] = {}
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise SpecError(source, f"stages.{name}.from", "stages depend on each other in a cycle")
        visiting.add(name)
        stage = stages[name]
        method = stage.method_info
        if stage.parent is None and method.parents and not method.parent_optional:
            raise SpecError(
                source,
                f"stages.{name}.from",
                f"required: the stage {method.name} starts from (a {'/'.join(method.parents)} stage)",
            )
        if stage.parent is not None:
            if stage.parent not in stages:
                hint = close_match(stage.parent, stages)
                raise SpecError(source, f"stages.{name}.from", f"no stage named {shown(stage.parent)}{hint}")
            parent_method = stages[stage.parent].method
            if parent_method not in method.parents:
                raise SpecError(
                    source,
                    f"stages.{name}.from",
                    f"{method.name} cannot start from a {parent_method} stage "
                    f"(needs {'/'.join(method.parents) or 'none'})",
                )
            visit(stage.parent)
        visiting.discard(name)
        ordered[name] = stage

    for name in stages:
        visit(name)
    return ordered


def budget_steps(
    source: str, stages: dict[str, StageSpec], dataset: str, options: dict[str, Any]
) -> dict[str, StageSpec]:
    """Stages whose length is given in ``steps`` with their epochs counted on the training set (read
    only when a stage asks)."""
    budgeted = [stage for stage in stages.values() if stage.steps is not None]
    if not budgeted:
        return stages
    key = key_path(["stages", budgeted[0].name, "steps"])
    size = training_set_size(source, key, dataset, options)
    settings = {
        stage.name: with_epochs(source, stage.name, stage.settings, stage.steps, size) for stage in budgeted
    }
    return {
        name: stage.model_copy(update={"settings": settings[name]}) if name in settings else stage
        for name, stage in stages.items()
    }
