"""The sweep file: YAML read safely, overrides applied, validated into a typed ``SweepSpec``.

Every problem is a ``SpecError`` naming the file, the key path and what is wrong, raised before
Ray starts or anything is written. The sections' models are in ``spec_models``; the dataset and
model checks in ``spec_cells``; the stage checks in ``spec_stages``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bdlsweep.storage.layout import SweepLayout
from bdlsweep.storage.locations import Location
from bdlsweep.sweeps.reading.ensemble_members import members_of, read_ensemble_file
from bdlsweep.sweeps.reading.errors import SpecError, close_match, from_validation_error, key_path, shown
from bdlsweep.sweeps.reading.name_checks import check_experiment, check_name, check_storage
from bdlsweep.sweeps.reading.overrides import apply_overrides, blamed_override
from bdlsweep.sweeps.reading.suite_cells import expand_cells
from bdlsweep.sweeps.spec.cell_options import CellSettingsCheck
from bdlsweep.sweeps.spec.cells import check_stage_methods, validate_cell
from bdlsweep.sweeps.spec.models import MAX_SEEDS, EvaluateSpec, SweepFile, SweepSpec, selection_names
from bdlsweep.sweeps.spec.reference_check import check_reference
from bdlsweep.sweeps.spec.stage_parents import parent_problems
from bdlsweep.sweeps.spec.stages import budget_steps, dependency_order, validate_stage
from bdlsweep.trainables.data import DATASET_LIKELIHOODS
from bdlsweep.trainables.data.files import MissingDataFileError
from bdlsweep.trainables.data.registry import REGISTRY as DATASET_REGISTRY
from bdlsweep.trainables.data.registry import ood_set_names

YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's safe loader when built with it


def _read_yaml(path: Path) -> dict[str, Any]:
    source = str(path)
    if path.is_dir():
        raise SpecError(source, "", "a folder, not a sweep file")
    if not path.is_file():
        raise SpecError(source, "", "file not found" if not path.exists() else "not a regular file")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER)
    except OSError as error:
        raise SpecError(source, "", f"cannot read it: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise SpecError(source, "", f"not UTF-8 text (byte {error.start}); save the file as UTF-8") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SpecError(source, where, f"invalid YAML: {problem}") from None
    if not isinstance(raw, dict):
        raise SpecError(source, "", "a sweep file must be a mapping of keys to values")
    return raw


def _check_evaluate(source: str, evaluate: EvaluateSpec, seeds: list[int], names) -> None:
    for index, name in enumerate(evaluate.methods):
        if name not in names:
            hint = close_match(name, names)
            raise SpecError(
                source,
                f"evaluate.methods[{index}]",
                f"{shown(name)} is not a stage or derived selection{hint}; known: {', '.join(names)}",
            )
    for index, size in enumerate(evaluate.ensemble_sizes):
        if size < 1:
            raise SpecError(source, f"evaluate.ensemble_sizes[{index}]", f"K must be ≥ 1 (got {size})")
        if size > len(seeds):
            raise SpecError(
                source,
                f"evaluate.ensemble_sizes[{index}]",
                f"K={size} is larger than the number of seeds ({len(seeds)})",
            )
    for index, size in enumerate(evaluate.subsample_sizes):
        if not 1 <= size <= evaluate.num_posterior_samples:
            raise SpecError(
                source,
                f"evaluate.subsample_sizes[{index}]",
                f"must be in 1..num_posterior_samples={evaluate.num_posterior_samples} (got {size})",
            )


def _check_predictive_plot(source: str, evaluate: EvaluateSpec, seeds: list[int], dataset: str) -> None:
    """``evaluate.predictive_plot`` needs a 1-D dataset and at most as many members as seeds."""
    if evaluate.predictive_plot is None:
        return
    key = "evaluate.predictive_plot"
    if not DATASET_REGISTRY[dataset].input_curve:
        curves = ", ".join(name for name, entry in DATASET_REGISTRY.items() if entry.input_curve)
        raise SpecError(source, key, f"dataset {dataset} has no 1-D input to plot over (these do: {curves})")
    if evaluate.predictive_plot > len(seeds):
        raise SpecError(
            source, key, f"K={evaluate.predictive_plot} is larger than the number of seeds ({len(seeds)})"
        )


def _check_ood_split(source: str, evaluate: EvaluateSpec, dataset: str, options: dict[str, Any]) -> None:
    """``ood`` listed in ``evaluate.splits`` needs an OOD set to score (``dataset.ood: []`` leaves none)."""
    if "splits" not in evaluate.model_fields_set or "ood" not in evaluate.splits:
        return
    if ood_set_names(dataset, options):
        return
    given = f" (dataset.ood is {options['ood']})" if "ood" in options else ""
    raise SpecError(
        source,
        "evaluate.splits",
        f"lists ood, but dataset {dataset} has no OOD set{given}: name one in dataset.ood "
        "or drop ood from evaluate.splits",
    )


def _check_ensemble_file(source: str, path: Path, seeds: list[int]) -> None:
    key = "evaluate.ensemble_file"
    try:
        found = path.is_file()
    except OSError as error:
        raise SpecError(source, key, f"not a usable path: {error.strerror}: {shown(str(path))}") from None
    if not found:
        raise SpecError(source, key, f"file not found: {path}")
    try:
        frame = read_ensemble_file(path)
        members = [members_of(ids) for ids in frame["model_ids"]]
    except ValueError as error:
        raise SpecError(source, key, f"{path.name}: {error}") from None
    for row, (size, ids) in enumerate(zip(frame["K"], members, strict=True)):
        if len(ids) != size or len(set(ids)) != size:
            raise SpecError(source, key, f"{path.name} row {row + 1}: K={size} but members {ids}")
        unknown = sorted(set(ids) - set(seeds))
        if unknown:
            raise SpecError(source, key, f"{path.name} row {row + 1}: seeds {unknown} are not in seeds")


def load_spec(
    path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    missing_data: list[MissingDataFileError] | None = None,
) -> SweepSpec:
    """Read, override and validate a sweep file; raise ``SpecError`` on the first problem, naming the
    override (not the file) when the key at fault was set on the command line. With ``missing_data``
    (a dry run's plan), missing data files are listed there instead of stopping the read."""
    try:
        return _load_spec(Path(path), overrides, missing_data)
    except SpecError as error:
        culprit = blamed_override(error.key, overrides) if error.source == str(path) else None
        if culprit is None:
            raise
        raise SpecError(f"override {shown(culprit)}", error.key, error.problem) from None


def _load_spec(
    path: Path, overrides: list[str] | tuple[str, ...], missing_data: list[MissingDataFileError] | None
) -> SweepSpec:
    source = str(path)
    raw = apply_overrides(_read_yaml(path), overrides)
    if "seeds" in raw and (isinstance(raw["seeds"], bool) or not isinstance(raw["seeds"], int | list)):
        raise SpecError(
            source, "seeds", f"a list of seeds or their count N (seeds 1..N) (got {shown(raw['seeds'])})"
        )
    if isinstance(raw.get("seeds"), int):
        count = raw["seeds"]
        if not 1 <= count <= MAX_SEEDS:
            raise SpecError(
                source, "seeds", f"the number of seeds must be in 1..{MAX_SEEDS} (got {shown(count)})"
            )
        raw["seeds"] = list(range(1, count + 1))
    try:
        top = SweepFile.model_validate(raw)
    except ValidationError as error:
        raise from_validation_error(source, error, SweepFile) from None
    if len(set(top.seeds)) != len(top.seeds):
        raise SpecError(source, "seeds", "seeds must be distinct")
    check_name(source, "name", top.name)
    for stage_name in top.stages:
        check_name(source, f"stages.{stage_name}", stage_name)
    if top.mlflow.experiment is not None:
        check_experiment(source, "mlflow.experiment", top.mlflow.experiment)
    overridden = [text.lstrip("~").partition("=")[0].strip() for text in overrides]
    sources = [
        replace(cell, settings=cell.settings.without(overridden)) for cell in expand_cells(source, raw)
    ]
    cells = [validate_cell(source, top, cell, len(sources) > 1, missing_data) for cell in sources]
    for cell in cells:
        check_stage_methods(source, top.stages, cell)
    stages = dependency_order(
        source,
        {name: validate_stage(source, name, raw_stage) for name, raw_stage in top.stages.items()},
    )
    for name, key, problem in parent_problems(stages):
        raise SpecError(source, key_path(["stages", name, key]), problem)
    names = selection_names(stages)
    check = CellSettingsCheck(
        source,
        top.stages,
        stages,
        raw["evaluate"],
        lambda evaluate: _check_evaluate(source, evaluate, top.seeds, names),
    )
    for index, found in enumerate(sources):
        cell_stages = check.stages_of(found.settings)
        update = {"stages": cell_stages, "evaluate": check.evaluate_of(found.settings)}
        cells[index] = cells[index].model_copy(update=update)
        merged = {**stages, **cell_stages}
        for stage in merged.values():
            problem = stage.settings.likelihood_problem(DATASET_LIKELIHOODS[cells[index].dataset])
            if problem is not None:
                where = key_path(["stages", stage.name, problem[0]])
                raise SpecError(source, found.settings.origin(where) or where, problem[1])
        for name, key, problem in parent_problems(merged):
            where = key_path(["stages", name, key])
            raise SpecError(source, found.settings.origin(where) or where, problem)
    first = cells[0]
    budgeted = [stage.name for stage in stages.values() if stage.steps is not None]
    if budgeted and len(cells) > 1:
        key = key_path(["stages", budgeted[0], "steps"])
        raise SpecError(source, key, "a suite's training sets differ in size; give epochs, not steps")
    stages = budget_steps(source, stages, first.dataset, first.dataset_options)
    try:
        storage = Location.parse(top.storage or f"runs/{top.name}")
    except (OSError, ValueError) as error:
        raise SpecError(source, "storage", f"not a usable path: {error}") from None
    check_storage(source, "storage", storage)
    if storage.is_uri and top.mlflow.tracking_uri is None:
        raise SpecError(
            source,
            "mlflow.tracking_uri",
            f"required when storage is a URI ({storage}): MLflow's default SQLite file needs a local folder",
        )
    ensemble_file = None
    if top.evaluate.ensemble_file is not None:
        ensemble_file = (path.parent / top.evaluate.ensemble_file).resolve()
        _check_ensemble_file(source, ensemble_file, top.seeds)
    likelihoods = {DATASET_LIKELIHOODS[cell.dataset] for cell in cells}
    reference_file = check_reference(source, path.parent, top.evaluate, len(cells), likelihoods)
    spec = SweepSpec(
        source=source,
        name=top.name,
        dataset=first.dataset,
        dataset_options=first.dataset_options,
        model=first.model,
        model_options=first.model_options,
        seeds=top.seeds,
        storage=storage,
        tracking_uri=top.mlflow.tracking_uri or SweepLayout(storage).default_tracking_uri,
        experiment=top.mlflow.experiment or top.name,
        ray=top.ray,
        stages=stages,
        selection=top.selection,
        evaluate=top.evaluate,
        ensemble_file=ensemble_file,
        reference_file=reference_file,
        overrides=tuple(overrides),
        cells=tuple(cells) if len(cells) > 1 else (),
    )
    _check_evaluate(source, top.evaluate, top.seeds, spec.selection_names())
    for cell in cells:
        _check_predictive_plot(source, cell.evaluate or top.evaluate, top.seeds, cell.dataset)
        _check_ood_split(source, cell.evaluate or top.evaluate, cell.dataset, cell.dataset_options)
    return spec
