"""A suite's main table: a column group per dataset and model, each the mean ± s.e. over its splits."""

from __future__ import annotations

import pandas as pd

from bdlsweep.analysis import tables
from bdlsweep.analysis.selection_flags import worse_than_parent
from bdlsweep.storage.layout import SweepLayout
from bdlsweep.storage.locations import Location
from bdlsweep.sweeps.spec.models import SweepSpec
from bdlsweep.trainables.data import DATASET_LIKELIHOODS


def write_suite_tables(
    spec: SweepSpec, frames: dict[str, pd.DataFrame]
) -> tuple[pd.DataFrame, dict[str, Location]]:
    """The suite's table (rows K × method; per group, the mean ± s.e. over splits of each split's mean
    over its ensembles) under ``<storage>/results``; ``frames``: cell → its ensemble results."""
    groups = {cell.name: cell.table_group for cell in spec.cells}
    table = tables.suite_table(groups, frames, spec.evaluate.methods)
    layouts = [SweepLayout(spec.storage, cell.name) for cell in spec.cells]
    notes = tables.TableNotes(
        caption=tables.suite_caption(
            groups,
            {cell.name: cell.dataset_options.get("split", cell.name) for cell in spec.cells},
            DATASET_LIKELIHOODS[spec.cells[0].dataset] == "regression",
        ),
        flagged=worse_than_parent(layouts, spec.evaluate.methods),
    )
    return table, tables.write_table_files(SweepLayout(spec.storage).results, table, notes)
