"""``bdlsweep resume SWEEP_DIR``: the sweep file and overrides a storage folder (or URI) was run with."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bdlsweep.storage.layout import RECORD, SweepLayout, UnreadableRecordError
from bdlsweep.storage.locations import Location
from bdlsweep.sweeps.reading.errors import SpecError


def _local_copy(copy: Location) -> Path:
    """The stored copy of the sweep file as a local file (downloaded when the storage is a URI)."""
    if not copy.is_uri:
        return copy.path
    folder = Path(tempfile.mkdtemp(prefix="bdlsweep-resume-"))
    target = folder / copy.name
    target.write_bytes(copy.read_bytes())
    return target


def resume_arguments(sweep_dir: str | Path) -> tuple[Path, list[str]]:
    """(sweep file, overrides) that run the sweep stored in ``sweep_dir`` again, into the same folder.

    The original file is used while it exists on this machine (relative paths in it keep their
    meaning), else the copy the folder holds; the recorded overrides come first, then
    ``storage=<sweep_dir>``. ``sweep_dir`` may be a URI (``s3://...``), so any node can resume.
    """
    folder = Location.parse(sweep_dir)
    layout = SweepLayout(folder)
    record_path = layout.record
    try:
        record = layout.read_record()
        source, overrides = Path(record["source"]), list(record.get("overrides", []))
    except UnreadableRecordError as error:
        raise SpecError(str(folder), RECORD, str(error)) from None
    except (KeyError, TypeError) as error:
        raise SpecError(str(record_path), "source", f"unreadable sweep record ({error})") from None
    if not source.is_file():
        copy = layout.source_copy
        if not copy.is_file():
            raise SpecError(str(record_path), "source", f"{record['source']} and {copy} are both gone")
        source = _local_copy(copy)
    return source, [*overrides, f"storage={folder}"]
