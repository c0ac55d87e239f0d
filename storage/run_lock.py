"""One writer per storage folder: a run holds ``run.lock`` (host, process id, start, heartbeat) while
it writes there, and a second run is refused, naming the holder.

On a local or shared file system the lock file appears atomically (written aside, then hard-linked
into place, which fails when it exists; this holds on NFS too). In a bucket, where no such primitive
is exposed, the lock object is a lease: written, read back after a pause to detect a concurrent
writer, and renewed by a heartbeat. A lock is stale, and taken over, when its process is gone
(same host) or its heartbeat is older than the lease (another host, or a bucket).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from bdlsweep.storage.layout import SweepLayout
from bdlsweep.storage.locations import Location

LEASE_S = 120.0  # a holder not heard of for this long is gone
HEARTBEAT_S = 30.0
BUCKET_SETTLE_S = 1.0  # how long a bucket writer waits before reading its lease back


class StorageBusyError(RuntimeError):
    """Another run holds the storage folder's lock."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: host, process id, when the run started and last said it was alive, and a token."""

    host: str
    pid: int
    started: float
    heartbeat: float
    token: str

    def describe(self) -> str:
        started = datetime.fromtimestamp(self.started, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"host {self.host}, pid {self.pid}, started {started}"

    def is_stale(self, now: float) -> bool:
        """Its process is gone (on this host), or it has not renewed its lease in time (a live process
        with a stale heartbeat is another process that reused the pid, or a stalled run)."""
        if self.host == socket.gethostname():
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                pass
        return now - self.heartbeat > LEASE_S


def _read(location: Location) -> Holder | None:
    """The holder recorded at ``location``; None when there is no lock or it cannot be read."""
    try:
        return Holder(**json.loads(location.read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


class RunLock:
    """The lock of one storage folder, held by this process between ``acquire`` and ``release``."""

    def __init__(self, layout: SweepLayout) -> None:
        self.folder, self.location = layout.root, layout.lock
        now = time.time()
        self.holder = Holder(socket.gethostname(), os.getpid(), now, now, uuid.uuid4().hex)
        self._stop = threading.Event()
        self._beating: threading.Thread | None = None

    def acquire(self) -> None:
        """Take the lock, taking over a stale one; ``StorageBusyError`` naming the holder if it is held."""
        for _ in range(5):
            current = _read(self.location)
            if current is not None and not current.is_stale(time.time()):
                raise StorageBusyError(
                    f"{self.folder} is in use by another run ({current.describe()}); "
                    f"wait for it to finish, or stop it (a killed run's lock is taken over)"
                )
            taken = self._take_local(current) if not self.location.is_uri else self._take_bucket()
            if taken:
                self._beating = threading.Thread(target=self._beat, name="run-lock-heartbeat", daemon=True)
                self._beating.start()
                return
        raise StorageBusyError(f"{self.folder}: could not take {self.location.name}; another run is starting")

    def release(self) -> None:
        """Stop the heartbeat and remove the lock if it is still this run's."""
        self._stop.set()
        if self._beating is not None:
            self._beating.join()
        current = _read(self.location)
        if current is not None and current.token == self.holder.token:
            self.location.delete()

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def _text(self) -> str:
        return json.dumps(asdict(self.holder))

    def _take_local(self, stale: Holder | None) -> bool:
        """Link a fully written file into place (fails if a lock is there); move a stale one aside first."""
        path = self.location.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if stale is not None or path.exists():
            try:
                path.rename(path.with_name(f"{path.name}.stale-{self.holder.token}"))
            except FileNotFoundError:
                return False  # another run moved it first; look again
            path.with_name(f"{path.name}.stale-{self.holder.token}").unlink()
        staging = path.with_name(f".{path.name}.{self.holder.token}")
        staging.write_text(self._text())
        try:
            os.link(staging, path)
        except FileExistsError:
            return False
        finally:
            staging.unlink()
        return True

    def _take_bucket(self) -> bool:
        """Write the lease, wait, and read it back: a concurrent writer's lease would have replaced it."""
        self.location.write_text(self._text())
        time.sleep(BUCKET_SETTLE_S)
        current = _read(self.location)
        return current is not None and current.token == self.holder.token

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            current = _read(self.location)
            if current is None or current.token != self.holder.token:
                return  # taken over after this run stalled past its lease: do not clobber the new holder
            self.holder = Holder(**{**asdict(self.holder), "heartbeat": time.time()})
            self.location.write_text(self._text())
