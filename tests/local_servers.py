"""Servers the tests start on 127.0.0.1: a free port, a real ``mlflow server`` that can be stopped and
started again on the same port and store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


def start_mlflow_server(folder: Path, port: int) -> subprocess.Popen:
    """``mlflow server`` on 127.0.0.1:``port`` with its SQLite store and proxied artifacts in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination", str(folder / "artifacts"), "--workers", "1",
    ]  # fmt: skip
    with open(folder / "server.log", "ab") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_until_answering(f"http://127.0.0.1:{port}/health", server, folder / "server.log")
    return server


def stop_server(server: subprocess.Popen) -> None:
    """Stop a server started in its own session, with everything it spawned."""
    if server.poll() is None:
        os.killpg(server.pid, 15)
    server.wait(timeout=30)


S3_BUCKET = "sweeps"
"""The bucket the storage tests' S3 server holds."""
