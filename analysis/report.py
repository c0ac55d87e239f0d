"""``bdlsweep report SWEEP_DIR``: a finished sweep's main table, metric groups and plots as files under
``<storage>/report/`` and as one self-contained ``report.html``, built from the stored results alone."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bdlsweep.analysis import results, tables
from bdlsweep.analysis.cost_table import cost_table, cost_text
from bdlsweep.analysis.diagnostic_plots import plot_ood_histograms, plot_reliability
from bdlsweep.analysis.label_noise import label_noise_table, plot_label_noise
from bdlsweep.analysis.metric_groups import metric_groups_table
from bdlsweep.analysis.paired_comparison import paired_differences, paired_text
from bdlsweep.analysis.reference_caption import reference_caption_of
from bdlsweep.analysis.report_html import render_report_html
from bdlsweep.analysis.report_plots import (
    plot_metric_vs_samples,
    plot_metric_vs_severity,
    plot_metric_vs_size,
    plot_tuning_curve,
)
from bdlsweep.analysis.selection_flags import worse_than_parent
from bdlsweep.analysis.status import sweep_status
from bdlsweep.storage.layout import PriorStudyFiles, ReportFiles, SweepLayout
from bdlsweep.storage.locations import Location

PAIRED_HEADING = (
    "Which differences are real: each method minus MAP (K = 1) or DE (larger K), paired over the ensembles "
    "both evaluated with the same members; mean ± s.e. over the pairs (pairs favouring the method / MAP "
    "or DE)"
)
COST_HEADING = (
    "Cost: training CPU- and GPU-seconds of each method's stage over its whole grid and over the trials "
    "selected (each trial's own time × the CPUs and GPUs it held); one member's weights and FLOPs per "
    "prediction"
)
METRIC_GROUPS_HEADING = (
    "Metric groups (test set; OOD: mean over the OOD sets; FLOPs per prediction; mean ± s.e. over ensembles)"
)


@dataclass(frozen=True)
class Report:
    """Where a report was written: its folder and each file by name (tables, PNGs, ``report.html``)."""

    folder: Location
    files: dict[str, Location]


def _tuning_figures(storage: Location, stages: dict[str, dict]) -> list[tuple[str, str, bytes]]:
    """(plot name, caption, PNG) of validation ELPD over each numeric searched hyper-parameter."""
    figures = []
    for stage, record in stages.items():
        search = record.get("search") or {}
        frame: pd.DataFrame | None = None
        for key in search:
            frame = results.trials(storage, stage) if frame is None else frame
            column = "config/" + key.replace(".", "/")
            if column not in frame or frame[column].nunique() < 2:
                continue
            if not pd.api.types.is_numeric_dtype(frame[column]) or "val_elpd" not in frame:
                continue
            caption = f"Tuning: validation ELPD of stage {stage} ({record['method']}) over {key}, per seed"
            image = plot_tuning_curve(frame, column, key)
            figures.append((f"tuning_{stage}_{key.replace('.', '_')}", caption, image))
    return figures


def _label_noise_tables(storage: Location, stages: dict[str, dict]) -> dict[str, pd.DataFrame]:
    """Per stage that searched ``label_noise``, its training and test accuracy per fraction."""
    tables = {}
    for stage, record in stages.items():
        if "label_noise" in (record.get("search") or {}):
            table = label_noise_table(results.trials(storage, stage))
            if table is not None:
                tables[stage] = table
    return tables


def _study_figures(storage: Location) -> list[tuple[str, str, bytes]]:
    """The plots of the studies run on this sweep (``bdlsweep surface`` and ``bdlsweep prior``)."""
    figures = []
    layout = SweepLayout(storage)
    for folder in layout.surfaces.children():
        surface = layout.surface(folder.name)
        if surface.plot.is_file():
            checkpoints = json.loads(surface.settings.read_text())["checkpoints"]
            caption = f"Posterior surface {folder.name} through {', '.join(checkpoints)}"
            figures.append((f"surface_{folder.name}", caption, surface.plot.read_bytes()))
    for name, plot in PriorStudyFiles(layout.prior).plots().items():
        figures.append((name, f"Prior study: {name.replace('_', ' ')}", plot.read_bytes()))
    return figures


def write_table(folder: Location, table: pd.DataFrame, notes: tables.TableNotes = tables.NO_NOTES) -> dict:
    """The main table's files in ``folder`` (``tables.write_table_files``), by file name as a report
    lists its files."""
    return {location.name: location for location in tables.write_table_files(folder, table, notes).values()}


def build_report(sweep_dir: str | Path | Location) -> Report:
    """Write ``report/`` (table.md/.csv/.tex, PNG plots, report.html) from a sweep's storage."""
    storage = Location.parse(sweep_dir)
    layout = SweepLayout(storage)
    record = layout.read_record()
    if record.get("cells"):
        return _suite_report(layout, record)
    ensembles = results.ensembles(storage)
    group = record.get("table_group") or tables.group_name(record["dataset"], {}, record["model"])
    methods = record["evaluate"]["methods"]
    table = tables.main_table({group: ensembles}, methods=methods)
    caption = reference_caption_of(layout, record, ensembles)
    notes = tables.TableNotes(caption=caption, flagged=worse_than_parent([layout], methods))
    folder = layout.report
    files = write_table(folder, table, notes)
    more_tables = []
    groups = metric_groups_table(ensembles, record["evaluate"]["methods"])
    if groups is not None:
        for suffix, text in (("md", tables.to_markdown(groups)), ("csv", tables.to_csv(groups))):
            location = ReportFiles(folder).metric_groups(suffix).write_text(text)
            files[location.name] = location
        more_tables += [  # one table per group, so that each fits the page's width
            (f"{METRIC_GROUPS_HEADING}: {group}", tables.to_html(groups.loc[:, [group]]))
            for group in groups.columns.unique(level=0)
        ]
    paired = paired_differences(ensembles, tables.default_columns(ensembles), methods=methods)
    if paired is not None:
        written = ReportFiles(folder).paired.write_text(paired.to_csv())
        files[written.name] = written
        more_tables.append((PAIRED_HEADING, paired_text(paired).to_html()))
    cost = cost_table(storage, record, ensembles)
    if cost is not None:
        written = ReportFiles(folder).cost.write_text(cost.to_csv())
        files[written.name] = written
        more_tables.append((COST_HEADING, cost_text(cost).to_html()))
    candidates = [
        ("metric_vs_K", "Test metrics over the ensemble size K: mean ± s.e. over the ensembles of "
         "each K, each at its largest number of samples (as in the table)", plot_metric_vs_size(ensembles)),
        ("metric_vs_samples", "Test metrics of single models (K = 1) over the number of posterior "
         "samples: mean ± s.e. over the seeds", plot_metric_vs_samples(ensembles)),
        ("metric_vs_severity", "Metrics on shifted data over the corruption severity (K = 1): mean ± "
         "s.e. over seeds and corruptions", plot_metric_vs_severity(ensembles)),
        ("reliability", "Reliability diagrams on the test set, single models and the largest "
         "ensembles: each curve pools the confidence bins of every ensemble of its K, so the legend's ECE "
         "is that of the pooled bins, not the table's ECE (the mean over ensembles of each one's ECE)",
         plot_reliability(results.reliability(storage))),
        ("ood_histograms", "OOD score on the test set vs the OOD sets: histograms pooled over the "
         "largest ensembles; the legend's AUROC is the mean over those ensembles of each one's AUROC",
         plot_ood_histograms(results.score_histograms(storage), ensembles)),
    ]  # fmt: skip
    predictive = layout.predictive_plot
    if predictive.is_file():
        candidates.append(("predictive_1d", "Predictive mean ± 2 std over x", predictive.read_bytes()))
    figures = [item for item in candidates if item[2] is not None]
    figures += _tuning_figures(storage, record["stages"])
    for stage, fit in _label_noise_tables(storage, record["stages"]).items():
        written = ReportFiles(folder).label_noise_fit(stage).write_text(fit.to_csv(index=False))
        files[written.name] = written
        caption = f"Fitting randomly relabelled data (stage {stage}): training and test accuracy per fraction"
        figures.append((f"label_noise_{stage}", caption, plot_label_noise(fit, stage)))
        more_tables.append((caption, fit.to_html(index=False, float_format="%.3f")))
    figures += _study_figures(storage)
    for name, _, image in figures:
        written = ReportFiles(folder).plot(name).write_bytes(image)
        files[written.name] = written
    summary = (
        f"Sweep {record['name']}: {record['dataset']} / {record['model']}, seeds {record['seeds']}, "
        f"stages {', '.join(record['stages'])}; storage {storage}."
    )
    page = render_report_html(
        f"bdlsweep report: {record['name']}",
        summary,
        tables.to_html(table, stderr=True, notes=notes),
        [(caption, image) for _, caption, image in figures],
        more_tables,
        [f"stage {stage.name}: {note}" for stage in sweep_status(storage)[0] for note in stage.notes],
    )
    written = ReportFiles(folder).page.write_text(page)
    files[written.name] = written
    return Report(folder, files)


def _suite_report(layout: SweepLayout, record: dict) -> Report:
    """A suite's ``report/``: its main table (per dataset and model, the mean ± s.e. over splits) as
    files, and a page holding it and each cell's own table (mean ± s.e. over its ensembles)."""
    methods = record["evaluate"]["methods"]
    every = results.ensembles(layout.root)
    frames = {cell["name"]: every[every["cell"] == cell["name"]] for cell in record["cells"]}
    groups = {cell["name"]: cell["table_group"] for cell in record["cells"]}
    table = tables.suite_table(groups, frames, methods)
    splits = {cell["name"]: cell["dataset_options"].get("split", cell["name"]) for cell in record["cells"]}
    cells = {name: SweepLayout(layout.root, name) for name in frames}
    notes = tables.TableNotes(
        caption=tables.suite_caption(groups, splits, "test_rmse" in every.columns),
        flagged=worse_than_parent(list(cells.values()), methods),
    )
    folder = layout.report
    files = write_table(folder, table, notes)
    cell_tables = [
        (
            f"Cell {name} (mean ± s.e. over ensembles)",
            tables.to_html(
                tables.main_table({name: frame}, methods=methods),
                stderr=True,
                notes=tables.TableNotes(flagged=worse_than_parent([cells[name]], methods)),
            ),
        )
        for name, frame in frames.items()
    ]
    summary = (
        f"Suite {record['name']}: {len(frames)} datasets × models (the main table: per dataset and model, "
        f"the mean ± s.e. over its splits of each split's mean over ensembles), seeds {record['seeds']}, "
        f"stages {', '.join(record['stages'])}; storage {layout.root}."
    )
    page = render_report_html(
        f"bdlsweep report: {record['name']}",
        summary,
        tables.to_html(table, stderr=True, notes=notes),
        [],
        cell_tables,
    )
    written = ReportFiles(folder).page.write_text(page)
    files[written.name] = written
    return Report(folder, files)
