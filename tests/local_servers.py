"""Servers the tests start on 127.0.0.1: a free port, a real ``mlflow server`` that can be stopped and
started again on the same port and store, and a real PostgreSQL for its store."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A TCP port nothing listens on now."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports nothing listens on now (each probe stays bound until all are
    chosen: probes opened one after another may be given the same port twice)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]


def wait_until_answering(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 90) -> None:
    """Poll ``url`` until it answers; raise with the server's log if it dies or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log.read_text()[-2000:]) from None
            time.sleep(0.3)


def start_mlflow_server(folder: Path, port: int, backend_store_uri: str | None = None) -> subprocess.Popen:
    """``mlflow server`` on 127.0.0.1:``port`` with proxied artifacts in ``folder`` and its store there
    (SQLite) or at ``backend_store_uri`` (e.g. a PostgreSQL database)."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", backend_store_uri or f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination", str(folder / "artifacts"), "--workers", "1",
    ]  # fmt: skip
    # Without MLflow's job runner (three huey consumer processes, for GenAI jobs bdlsweep never runs)
    environment = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(folder / "server.log", "ab") as log:
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=environment
        )
    wait_until_answering(f"http://127.0.0.1:{port}/health", server, folder / "server.log")
    return server


def stop_server(server: subprocess.Popen) -> None:
    """Stop a server started in its own session, with everything it spawned: SIGTERM, and SIGKILL after
    5 s (an MLflow server's workers can wait 30 s on open keep-alive connections)."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


S3_BUCKET = "sweeps"
"""The bucket the storage tests' S3 server holds."""


def _postgres_program(name: str) -> str:
    """A PostgreSQL server program: on the PATH, or in Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if found is None:
        raise RuntimeError(f"{name} not found: install PostgreSQL (apt-get install postgresql; .ci/run does)")
    return str(found)


class LocalPostgres:
    """A PostgreSQL server in a fresh folder (``initdb``), on 127.0.0.1:``port``, holding one empty
    database ``mlflow``; stopped and started again with ``pg_ctl``. PostgreSQL refuses to run as root,
    so under root it runs as the ``postgres`` user the Debian package creates."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.folder = Path(tempfile.mkdtemp(prefix="bdlsweep-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        try:
            self._as_owner(
                _postgres_program("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust"
            )
            self.start()
            self._as_owner(
                _postgres_program("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "mlflow"
            )
        except BaseException:
            self.remove()
            raise

    @property
    def uri(self) -> str:
        """The SQLAlchemy URI of the ``mlflow`` database (psycopg2's driver)."""
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/mlflow"

    def _as_owner(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -h 127.0.0.1 -k {self.folder}"
        self._as_owner(
            _postgres_program("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._as_owner(_postgres_program("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        """Stop the server if it runs, and delete its folder."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):  # a server that never came up
                self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
