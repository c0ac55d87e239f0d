"""Stages whose settings cannot start from their parent stage's (a PCA subspace of more dimensions than its
SWAG stage keeps snapshots), found when the sweep file is read instead of failing in every trial."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from bdlsweep.sweeps.spec.models import StageSpec
from bdlsweep.sweeps.spec.stage_grid import grid_settings

SettingsOf = Callable[[StageSpec], list[Any]]


def parent_problems(
    stages: dict[str, StageSpec], settings_of: SettingsOf = grid_settings
) -> Iterator[tuple[str, str, str]]:
    """(stage, key, problem) for each stage with a parent whose method names a problem between some of
    its settings (``settings_of(stage)``: by default every grid point) and some of its parent's."""
    for stage in stages.values():
        check = stage.method_info.parent_problem
        if check is None or stage.parent is None:
            continue
        parents = settings_of(stages[stage.parent])
        found = next(
            (
                problem
                for settings in settings_of(stage)
                for parent in parents
                if (problem := check(settings, parent))
            ),
            None,
        )
        if found is not None:
            yield stage.name, *found
