"""``bdlsweep report A B C --out DIR``: one main table over several finished sweeps, in Jordahn et
al.'s (2025) Table C.3 layout (a column group per dataset and model, rows K × method), from their
stored results."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bdlsweep.analysis import results, tables
from bdlsweep.analysis.cost_table import cost_table, cost_text
from bdlsweep.analysis.report import COST_HEADING, Report, write_table
from bdlsweep.analysis.report_html import render_report_html
from bdlsweep.storage.layout import ReportFiles, SweepLayout
from bdlsweep.storage.locations import Location


def combined_groups(storages: list[Location]) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Each sweep's ensembles under its column-group name (its sweep name added where two sweeps share
    one), and the methods in the order the sweeps list them."""
    records = [SweepLayout(storage).read_record() for storage in storages]
    for storage, record in zip(storages, records, strict=True):
        if record.get("cells"):
            raise ValueError(f"{storage}: a suite; its own report holds the table over its datasets")
    names = [
        record.get("table_group") or tables.group_name(record["dataset"], {}, record["model"])
        for record in records
    ]
    groups: dict[str, pd.DataFrame] = {}
    for storage, record, name in zip(storages, records, names, strict=True):
        label = name if names.count(name) == 1 else f"{name} ({record['name']})"
        if label in groups:
            raise ValueError(f"{storage}: the same sweep ({record['name']}) is given twice")
        groups[label] = results.ensembles(storage)
    methods = list(dict.fromkeys(method for record in records for method in record["evaluate"]["methods"]))
    return groups, methods


def build_combined_report(sweep_dirs: list[str | Path | Location], out: str | Path | Location) -> Report:
    """Write ``table.md/.csv/.tex`` and ``report.html`` of the sweeps' combined main table, and their
    methods' costs side by side (``cost.csv``, a ``sweep`` column naming each row's), into ``out``."""
    storages = [Location.parse(sweep_dir) for sweep_dir in sweep_dirs]
    groups, methods = combined_groups(storages)
    table = tables.main_table(groups, methods=methods)
    folder = Location.parse(out)
    files = write_table(folder, table)
    summary = "Sweeps: " + "; ".join(
        f"{group} ({storage})" for group, storage in zip(groups, storages, strict=True)
    )
    costs = {
        group: cost
        for storage, (group, frame) in zip(storages, groups.items(), strict=True)
        if (cost := cost_table(storage, SweepLayout(storage).read_record(), frame)) is not None
    }
    shown = [(f"{COST_HEADING}: {group}", cost_text(cost).to_html()) for group, cost in costs.items()]
    if costs:
        every = pd.concat([cost.assign(sweep=group) for group, cost in costs.items()])
        written = ReportFiles(folder).cost.write_text(every.to_csv())
        files[written.name] = written
    page = render_report_html(
        "bdlsweep report: combined main table", summary, tables.to_html(table, stderr=True), [], shown
    )
    written = ReportFiles(folder).page.write_text(page)
    files[written.name] = written
    return Report(folder, files)
