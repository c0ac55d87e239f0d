"""Finding a dataset's files under a user's ``data_dir``, with an error that says where to get them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path


class MissingDataFileError(FileNotFoundError):
    """A file a dataset needs is not in ``data_dir``; the message names it, the place and the source."""

    def __init__(self, dataset: str, relative: str, data_dir: Path, source: str) -> None:
        self.dataset = dataset
        self.relative = relative
        self.data_dir = data_dir
        self.source = source
        super().__init__(
            f"dataset {dataset}: missing {relative} in data_dir {data_dir} "
            f"(looked for {data_dir / relative}); get it from {source}"
        )


class MalformedDataFileError(ValueError):
    """A data file that is there but not in its public format; the message names it and the problem."""


@contextmanager
def reading(path: Path, what: str) -> Iterator[None]:
    """Whatever a reader raises on ``path`` (pickle, NumPy, SciPy and torch each raise their own kinds
    for a truncated or foreign file) becomes a ``MalformedDataFileError`` naming the file and ``what``
    it should be."""
    try:
        yield
    except MalformedDataFileError:
        raise
    except Exception as error:
        raise MalformedDataFileError(f"{path} is not {what}: {described(error)}") from error


def described(error: BaseException) -> str:
    """An exception in one line: its kind and the first line of its message."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else 'no message'}"


class DataOptionError(ValueError):
    """A dataset option outside what the data allow (a split the files do not hold, sizes beyond the
    set); ``option`` names it, the message says the allowed range."""

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        super().__init__(message)


_MISSING_FILES: ContextVar[list[MissingDataFileError] | None] = ContextVar("missing_data_files", default=None)


@contextmanager
def listing_missing_files() -> Iterator[list[MissingDataFileError]]:
    """Within it, ``data_file`` lists a missing file and goes on instead of raising, so a dataset's
    locator names every file it lacks (in the yielded list, each once)."""
    missing: list[MissingDataFileError] = []
    token = _MISSING_FILES.set(missing)
    try:
        yield missing
    finally:
        _MISSING_FILES.reset(token)


def data_file(data_dir: str | Path, candidates: list[str], dataset: str, source: str) -> Path:
    """The first of ``candidates`` (relative to ``data_dir``) that exists, else ``MissingDataFileError``
    (inside ``listing_missing_files``: listed, and the first candidate's path returned)."""
    root = Path(data_dir).expanduser()
    for relative in candidates:
        path = root / relative
        if path.exists():
            return path
    error = MissingDataFileError(dataset, candidates[0], root.resolve(), source)
    listed = _MISSING_FILES.get()
    if listed is None:
        raise error
    if all((item.dataset, item.relative) != (dataset, candidates[0]) for item in listed):
        listed.append(error)
    return root / candidates[0]


def describe_missing(missing: list[MissingDataFileError]) -> str:
    """One line naming every missing file, grouped by the set it belongs to and where to get it (each
    source says when ``dataset.download=true`` fetches it)."""
    data_dir = missing[0].data_dir
    groups: dict[tuple[str, str], list[str]] = {}
    for error in missing:
        groups.setdefault((error.dataset, error.source), []).append(error.relative)
    sets = "; ".join(f"{name}: {', '.join(files)} from {source}" for (name, source), files in groups.items())
    where = f"data_dir {data_dir} does not exist" if not data_dir.exists() else f"data_dir {data_dir}"
    return f"{where}: missing {len(missing)} file(s) of {len(groups)} set(s): {sets}"
