"""A suite cell's own stage and evaluate options validated as the sweep file's are: merged over the
stage (or ``evaluate``) they change, checked against the method's settings, and reported at the key
where the cell's option was given."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from bdlsweep.sweeps.reading.cell_settings import CellSettings, deep_merge, leaf_paths
from bdlsweep.sweeps.reading.errors import SpecError, close_match, from_validation_error, key_path, shown
from bdlsweep.sweeps.spec.models import EvaluateSpec, StageSpec
from bdlsweep.sweeps.spec.stages import validate_stage


class CellSettingsCheck:
    """Validates cells' settings against the sweep file's ``stages`` and ``evaluate`` (as given, and
    as validated), once per distinct setting: a suite's 100 cells often share five."""

    def __init__(
        self,
        source: str,
        raw_stages: dict[str, dict[str, Any]],
        stages: dict[str, StageSpec],
        raw_evaluate: dict[str, Any],
        check_evaluate: Callable[[EvaluateSpec], None],
    ) -> None:
        self.source, self.raw_stages, self.stages = source, raw_stages, stages
        self.raw_evaluate, self.check_evaluate = raw_evaluate, check_evaluate
        self._stages: dict[tuple[str, str], StageSpec] = {}
        self._evaluate: dict[str, EvaluateSpec] = {}

    def _blamed(self, settings: CellSettings, error: SpecError) -> SpecError:
        """``error`` moved to the key of the cell's option that caused it (as it is when none did)."""
        where = settings.origin(error.key)
        return error if where is None else SpecError(self.source, where, error.problem)

    def stages_of(self, settings: CellSettings) -> dict[str, StageSpec]:
        """The validated stages that the cell's settings change (stage name → its spec for the cell)."""
        changed = {}
        for name, options in settings.stages.items():
            if name not in self.stages:
                where = settings.origin(f"stages.{name}") or f"stages.{name}"
                hint = close_match(name, self.stages)
                raise SpecError(self.source, where.rpartition(".")[0], f"no stage named {shown(name)}{hint}")
            self._check_not_searched(settings, self.stages[name], options)
            key = (name, json.dumps(options, sort_keys=True, default=str))
            if key not in self._stages:
                try:
                    self._stages[key] = validate_stage(
                        self.source, name, deep_merge(self.raw_stages[name], options)
                    )
                except SpecError as error:
                    raise self._blamed(settings, error) from None
            changed[name] = self._stages[key]
        return changed

    def _check_not_searched(self, settings: CellSettings, stage: StageSpec, options: dict[str, Any]) -> None:
        """A searched option has one grid for all of a stage's cells: a cell cannot fix it."""
        for path in leaf_paths(options):
            given = key_path(path)
            for searched in stage.search:
                if given == searched or given.startswith(f"{searched}.") or searched.startswith(f"{given}."):
                    where = settings.origin(f"stages.{stage.name}.{given}")
                    raise SpecError(
                        self.source,
                        where or f"stages.{stage.name}.{given}",
                        f"stage {stage.name} searches {searched} over one grid for every cell; "
                        "a cell cannot set it",
                    )

    def evaluate_of(self, settings: CellSettings) -> EvaluateSpec | None:
        """The cell's evaluate settings, validated; None when it sets none."""
        if not settings.evaluate:
            return None
        key = json.dumps(settings.evaluate, sort_keys=True, default=str)
        if key not in self._evaluate:
            try:
                try:
                    evaluate = EvaluateSpec.model_validate(deep_merge(self.raw_evaluate, settings.evaluate))
                except ValidationError as error:
                    raise from_validation_error(
                        self.source, error, EvaluateSpec, prefix=("evaluate",)
                    ) from None
                self.check_evaluate(evaluate)
            except SpecError as error:
                raise self._blamed(settings, error) from None
            self._evaluate[key] = evaluate
        return self._evaluate[key]
