"""Where sweep files live: a local path or a URI (``s3://``, ``gs://``, ``file://``), through ``pyarrow.fs``.

One type for both lets a sweep's storage be a shared folder or a bucket with the same code. Writes
are atomic either way: a local file is written under a temporary name and renamed into place; an
object store publishes an object whole when its upload finishes. Object-store endpoints and
credentials come from the environment, as ``pyarrow.fs`` and Ray Tune read them (``AWS_*``,
``GOOGLE_APPLICATION_CREDENTIALS``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs


def is_uri(address: str | Path) -> bool:
    """Whether ``address`` names a location by URI (``scheme://...``) rather than a local path."""
    return "://" in str(address)


@dataclass(frozen=True)
class Location:
    """A file or folder: an absolute local path or a URI, joined with ``/`` like ``pathlib.Path``."""

    address: str

    @classmethod
    def parse(cls, value: str | Path | Location) -> Location:
        """A location from a path (made absolute, ``~`` expanded) or a URI (kept, trailing ``/`` dropped)."""
        if isinstance(value, Location):
            return value
        text = str(value)
        if is_uri(text):
            scheme, _, rest = text.partition("://")
            return cls(f"{scheme}://{rest.rstrip('/') or '/'}")
        return cls(str(Path(text).expanduser().resolve()))

    def __str__(self) -> str:
        return self.address

    def __truediv__(self, part: str | Path) -> Location:
        if self.is_uri:
            return Location(f"{self.address.rstrip('/')}/{Path(part).as_posix().strip('/')}")
        return Location(str(Path(self.address) / part))

    @property
    def is_uri(self) -> bool:
        """Whether this is a URI (remote or ``file://``) rather than a plain local path."""
        return is_uri(self.address)

    @property
    def name(self) -> str:
        """The last component."""
        return self.address.rstrip("/").rsplit("/", 1)[-1]

    @property
    def parent(self) -> Location:
        """The folder holding this one (a bucket's root is its own parent)."""
        if self.is_uri:
            scheme, _, rest = self.address.partition("://")
            head = rest.rstrip("/").rpartition("/")[0]
            return Location(f"{scheme}://{head}") if head else self
        return Location(str(Path(self.address).parent))

    @property
    def path(self) -> Path:
        """This location as a local ``Path``; a ``ValueError`` for a URI."""
        if self.is_uri:
            raise ValueError(f"{self} is a URI, not a local path")
        return Path(self.address)

    def as_uri(self) -> str:
        """This location as a URI (``file://`` for a local path)."""
        return self.address if self.is_uri else Path(self.address).as_uri()

    def on_same_filesystem(self, filesystem_path: str) -> Location:
        """``filesystem_path`` on this location's filesystem (e.g. a Tune checkpoint's ``path``)."""
        if not self.is_uri:
            return Location.parse(filesystem_path)
        scheme = self.address.partition("://")[0]
        return Location(f"{scheme}://{filesystem_path}")

    def _filesystem(self) -> tuple[pyarrow.fs.FileSystem, str]:
        if self.is_uri:
            return pyarrow.fs.FileSystem.from_uri(self.address)
        return pyarrow.fs.LocalFileSystem(), self.address

    def _type(self) -> pyarrow.fs.FileType:
        filesystem, path = self._filesystem()
        return filesystem.get_file_info(path).type

    def is_file(self) -> bool:
        """Whether a file (object) exists here."""
        return self._type() == pyarrow.fs.FileType.File

    def is_dir(self) -> bool:
        """Whether a folder (or, in an object store, a key prefix) exists here."""
        return self._type() == pyarrow.fs.FileType.Directory

    def children(self) -> list[Location]:
        """The entries directly inside this folder, sorted by name; none when it does not exist."""
        filesystem, path = self._filesystem()
        selector = pyarrow.fs.FileSelector(path, allow_not_found=True)
        names = sorted(info.base_name for info in filesystem.get_file_info(selector))
        return [self / name for name in names]

    def read_bytes(self) -> bytes:
        """The file's content; ``FileNotFoundError`` when it is not there."""
        filesystem, path = self._filesystem()
        if filesystem.get_file_info(path).type != pyarrow.fs.FileType.File:
            raise FileNotFoundError(f"{self}: no such file")
        with filesystem.open_input_stream(path) as stream:
            return stream.read()

    def read_text(self) -> str:
        """The file's content as UTF-8 text."""
        return self.read_bytes().decode()

    def write_bytes(self, content: bytes) -> Location:
        """Write ``content`` here atomically (readers see the old file or the new one, never half)."""
        filesystem, path = self._filesystem()
        if filesystem.type_name != "local":
            with filesystem.open_output_stream(path) as stream:
                stream.write(content)
            return self
        parent, _, name = path.rpartition("/")
        filesystem.create_dir(parent, recursive=True)
        staging = f"{parent}/.{name}.tmp-{uuid.uuid4().hex}"
        with filesystem.open_output_stream(staging) as stream:
            stream.write(content)
        filesystem.move(staging, path)
        return self

    def write_text(self, text: str) -> Location:
        """``write_bytes`` for UTF-8 text."""
        return self.write_bytes(text.encode())

    def delete(self) -> None:
        """Remove the file here, if there is one."""
        filesystem, path = self._filesystem()
        if filesystem.get_file_info(path).type == pyarrow.fs.FileType.File:
            filesystem.delete_file(path)
