"""Finding a dataset's files under a user's ``data_dir``, with an error that says where to get them."""

from __future__ import annotations

from pathlib import Path


class MissingDataFileError(FileNotFoundError):
    """A file a dataset needs is not in ``data_dir``; the message names it, the place and the source."""

    def __init__(self, dataset: str, relative: str, data_dir: Path, source: str) -> None:
        self.dataset = dataset
        self.relative = relative
        self.data_dir = data_dir
        super().__init__(
            f"dataset {dataset}: missing {relative} in data_dir {data_dir} "
            f"(looked for {data_dir / relative}); get it from {source}"
        )


class DataOptionError(ValueError):
    """A dataset option outside what the data allow (a split the files do not hold, sizes beyond the
    set); ``option`` names it, the message says the allowed range."""

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        super().__init__(message)


def data_file(data_dir: str | Path, candidates: list[str], dataset: str, source: str) -> Path:
    """The first of ``candidates`` (relative to ``data_dir``) that exists, else ``MissingDataFileError``."""
    root = Path(data_dir).expanduser()
    for relative in candidates:
        path = root / relative
        if path.exists():
            return path
    raise MissingDataFileError(dataset, candidates[0], root.resolve(), source)
