"""A main table's files: Markdown, CSV and LaTeX in a storage folder's (or cell's) results folder."""

from __future__ import annotations

import pandas as pd

from bdlsweep.analysis import tables
from bdlsweep.storage.layout import SweepLayout
from bdlsweep.storage.locations import Location

FORMATS = {"md": "markdown", "csv": "csv", "tex": "latex"}
"""A table file's suffix → the name a sweep's outcome gives it."""


def write_table_files(
    layout: SweepLayout, table: pd.DataFrame, notes: tables.TableNotes = tables.NO_NOTES
) -> dict[str, Location]:
    """``table`` (with its caption and footnotes) as ``results/table.md``, ``.csv`` and ``.tex`` of
    ``layout``, by format name."""
    return {
        FORMATS[suffix]: layout.table(suffix).write_text(text)
        for suffix, text in tables.table_texts(table, notes).items()
    }
