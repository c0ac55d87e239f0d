"""A main table's files: Markdown, CSV and LaTeX in a storage folder's (or cell's) results folder."""

from __future__ import annotations

import pandas as pd

from bdlsweep.analysis import tables
from bdlsweep.storage.layout import SweepLayout
from bdlsweep.storage.locations import Location


def write_table_files(layout: SweepLayout, table: pd.DataFrame) -> dict[str, Location]:
    """``table`` as ``results/table.md``, ``.csv`` and ``.tex`` of ``layout``."""
    return {
        "markdown": layout.table("md").write_text(tables.to_markdown(table, stderr=True)),
        "csv": layout.table("csv").write_text(tables.to_csv(table)),
        "latex": layout.table("tex").write_text(tables.to_latex(table, stderr=True)),
    }
