"""A trial folder's ``result.json``: every report of the trial, appended by Tune's driver as it came,
across the trial's attempts (a restored trial reports again from its last checkpoint)."""

from __future__ import annotations

import json
from typing import Any

from pyarrow import fs

RESULT_FILE = "result.json"


def read_reports(filesystem: fs.FileSystem, folder: str) -> list[dict[str, Any]]:
    """The reports in a trial folder's ``result.json``; a last line cut by the kill is left out."""
    path = f"{folder}/{RESULT_FILE}"
    if filesystem.get_file_info(path).type == fs.FileType.NotFound:
        return []
    with filesystem.open_input_stream(path) as stream:
        lines = stream.readall().decode("utf-8").splitlines()
    rows = []
    for line in lines:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows


def last_attempt(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reports of the trial's last attempt: those after the last fall of ``training_iteration``
    (a restored trial reports again from its checkpoint, and reuses checkpoint folder names)."""
    start = 0
    for index in range(1, len(rows)):
        if rows[index].get("training_iteration", 0) <= rows[index - 1].get("training_iteration", 0):
            start = index
    return rows[start:]
