"""One writer per storage folder: a second run is refused naming the holder; a killed run's lock, or
a lease not renewed in time, is taken over; in a bucket the lock is a lease object."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from local_servers import S3_BUCKET
from repo_paths import ROOT

from bdlsweep.cli import main
from bdlsweep.storage.layout import SweepLayout
from bdlsweep.storage.run_lock import LEASE_S, RunLock, StorageBusyError

HOLD = """
import sys, time
from bdlsweep.storage.layout import SweepLayout
from bdlsweep.storage.run_lock import RunLock
RunLock(SweepLayout.at(sys.argv[1])).acquire()
print("held", flush=True)
time.sleep(600)
"""


def _hold_in_another_process(folder) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_run_is_refused_naming_the_holder_and_a_killed_holder_is_taken_over(tmp_path, capsys):
    folder = tmp_path / "storage"
    holder = _hold_in_another_process(folder)
    try:
        with pytest.raises(
            StorageBusyError, match=rf"in use by another run \(host .*, pid {holder.pid}, started"
        ):
            RunLock(SweepLayout.at(folder)).acquire()
        quickstart = ROOT / "sweeps" / "quickstart.yaml"
        assert main(["run", str(quickstart), f"storage={folder}", "seeds=3"]) == 2
        (error,) = capsys.readouterr().err.strip().splitlines()
        assert f"pid {holder.pid}" in error and str(folder) in error
        assert sorted(path.name for path in folder.iterdir()) == ["run.lock"]  # nothing else written
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    with RunLock(SweepLayout.at(folder)) as lock:
        assert json.loads((folder / "run.lock").read_text())["token"] == lock.holder.token
    assert not (folder / "run.lock").exists()


def test_a_lock_of_another_host_is_taken_over_only_once_its_lease_ran_out(tmp_path):
    layout = SweepLayout.at(tmp_path)
    now = time.time()
    other = {"host": f"not-{socket.gethostname()}", "pid": 1, "started": now, "token": "other"}
    (tmp_path / "run.lock").write_text(json.dumps({**other, "heartbeat": now - 5}))
    with pytest.raises(StorageBusyError, match="host not-"):
        RunLock(layout).acquire()
    (tmp_path / "run.lock").write_text(json.dumps({**other, "heartbeat": now - LEASE_S - 1}))
    lock = RunLock(layout)
    lock.acquire()
    with pytest.raises(StorageBusyError, match=f"pid {os.getpid()}"):
        RunLock(layout).acquire()
    lock.release()
    assert not (tmp_path / "run.lock").exists()
    reused = {"host": socket.gethostname(), "pid": os.getppid(), "started": now, "token": "reused"}
    (tmp_path / "run.lock").write_text(json.dumps({**reused, "heartbeat": now - LEASE_S - 1}))
    with RunLock(layout):  # a live pid whose lease ran out: another process reused it, or the run stalled
        pass


def test_in_a_bucket_the_lock_is_a_lease_object(s3_environment):
    layout = SweepLayout.at(f"s3://{S3_BUCKET}/locked")
    with RunLock(layout) as lock:
        assert json.loads(layout.lock.read_text())["token"] == lock.holder.token
        with pytest.raises(StorageBusyError, match="in use by another run"):
            RunLock(layout).acquire()
    assert not layout.lock.is_file()
    stale = {
        "host": "elsewhere",
        "pid": 1,
        "started": 0.0,
        "heartbeat": time.time() - LEASE_S - 1,
        "token": "x",
    }
    layout.lock.write_text(json.dumps(stale))
    with RunLock(layout) as lock:
        assert json.loads(layout.lock.read_text())["token"] == lock.holder.token
