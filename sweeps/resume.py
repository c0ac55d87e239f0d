"""``bdlsweep resume SWEEP_DIR``: the sweep file and overrides a storage folder was run with."""

from __future__ import annotations

import json
from pathlib import Path

from bdlsweep.sweeps.errors import SpecError
from bdlsweep.sweeps.storage_guard import RECORD, SOURCE_COPY


def resume_arguments(sweep_dir: str | Path) -> tuple[Path, list[str]]:
    """(sweep file, overrides) that run the sweep stored in ``sweep_dir`` again, into the same folder.

    The original file is used while it exists (relative paths in it keep their meaning), else the
    copy the folder holds; the recorded overrides come first, then ``storage=<sweep_dir>``.
    """
    folder = Path(sweep_dir).expanduser().resolve()
    record_path = folder / RECORD
    if not record_path.is_file():
        raise SpecError(str(folder), RECORD, "not a bdlsweep storage folder (it has no sweep record)")
    try:
        record = json.loads(record_path.read_text())
        source, overrides = Path(record["source"]), list(record.get("overrides", []))
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise SpecError(str(record_path), "source", f"unreadable sweep record ({error})") from None
    if not source.is_file():
        source = folder / SOURCE_COPY
        if not source.is_file():
            raise SpecError(str(record_path), "source", f"{record['source']} and {source} are both gone")
    return source, [*overrides, f"storage={folder}"]
