"""The main table's caption on its closeness columns, read from a sweep's record and stored ceiling, so the
run and ``bdlsweep report`` caption the table alike."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from bdlsweep.analysis import tables
from bdlsweep.storage.layout import SweepLayout


def reference_caption_of(layout: SweepLayout, record: dict[str, Any], frame: pd.DataFrame) -> str:
    """What the closeness columns of ``frame`` measure against (``record``: the sweep record, its
    ``evaluate`` section and ``reference_file``), with the stored ceiling; empty without a reference."""
    evaluate = record["evaluate"]
    reference = evaluate.get("reference")
    shown = [metric for metric in tables.REFERENCE_COLUMNS if f"test_{metric}" in frame.columns]
    if reference is None or not shown:
        return ""
    if record.get("reference_file") is None:
        largest = max(evaluate["ensemble_sizes"])
        reference = f"{tables.row_name(reference)} (its first ensemble of K = {largest})"
    path = layout.reference_ceiling
    ceiling = pd.read_csv(io.StringIO(path.read_text())) if path.is_file() else None
    return tables.reference_caption(reference, shown, ceiling)
