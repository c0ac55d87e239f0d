"""What the tables must say about their rows, read from a sweep's stored selections: each evaluated
method whose selected posterior is worse on validation than the model it starts from."""

from __future__ import annotations

from bdlsweep.storage.layout import SweepLayout
from bdlsweep.storage.stored_files import read_json


def worse_than_parent(layouts: list[SweepLayout], methods: list[str]) -> dict[str, str]:
    """Method label → a footnote for each of ``methods`` whose selection, in any of ``layouts`` (a
    sweep's, or each cell's of a suite), has seeds worse on validation than its parent's."""
    flagged: dict[str, str] = {}
    for label in methods:
        worse, total, parents = [], 0, set()
        for layout in layouts:
            path = layout.selection(label)
            if not path.is_file():
                continue
            record = read_json(path)
            seeds = record.get("worse_than_parent") or []
            total += len(record.get("members") or {})
            worse += [(layout.cell, seed) for seed in seeds]
            parents |= {record["parent"]} if seeds and record.get("parent") else set()
        if not worse:
            continue
        parent = " / ".join(sorted(parents)) or "model"
        if len(layouts) == 1:
            listed = ", ".join(str(seed) for _, seed in worse)
            where = f"for seed{'s' if len(worse) > 1 else ''} {listed} of {total}"
        else:
            where = f"in {len(worse)} of {total} (cell, seed) selections"
        flagged[label] = f"worse on validation than the {parent} it starts from {where}"
    return flagged
