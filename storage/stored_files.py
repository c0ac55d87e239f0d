"""Reading back the JSON and CSV files a sweep wrote into its storage folder, where a file that is not
what bdlsweep wrote (edited by hand, cut short by a full disk) is a one-line error naming it."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import Any

import pandas as pd

from bdlsweep.storage.locations import Location


class DamagedFileError(ValueError):
    """A storage file that cannot be read as what bdlsweep wrote; the message names it and what to do."""

    def __init__(self, location: Location, problem: str) -> None:
        self.location = location
        super().__init__(
            f"{location}: {problem}; it was changed after bdlsweep wrote it: remove it and "
            "`bdlsweep resume` the folder to write it again"
        )

    @classmethod
    def not_a(cls, location: Location, what: str, error: Exception) -> DamagedFileError:
        """A file read as JSON that lacks what ``what`` holds (``error``: the missing key or bad value)."""
        return cls(location, f"not {what} ({type(error).__name__}: {error})")


def read_json(location: Location) -> dict[str, Any]:
    """The JSON object stored at ``location``."""
    try:
        value = json.loads(location.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DamagedFileError(location, f"not readable JSON ({error})") from None
    if not isinstance(value, dict):
        raise DamagedFileError(location, f"holds a JSON {type(value).__name__}, not an object")
    return value


def read_csv(location: Location, columns: Iterable[str] = ()) -> pd.DataFrame:
    """The table stored at ``location``, which must have ``columns`` (an empty file: an empty table)."""
    try:
        text = location.read_text()
        frame = pd.read_csv(io.StringIO(text)) if text.strip() else pd.DataFrame()
    except (UnicodeDecodeError, pd.errors.ParserError) as error:
        raise DamagedFileError(location, f"not a readable CSV table ({str(error).strip()})") from None
    missing = [column for column in columns if column not in frame.columns]
    if missing and not frame.empty:
        raise DamagedFileError(location, f"has no column {', '.join(missing)}")
    return frame
