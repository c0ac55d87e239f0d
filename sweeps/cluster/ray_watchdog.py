"""A process that outlives a killed driver and stops the Ray processes that driver started.

Ray's own reaper stops the GCS and the raylet when the driver that started them dies, but the raylet's
agents (DashboardAgent, RuntimeEnvAgent) are left running after a SIGKILL. ``watch_ray_processes``,
called right after the driver started a local Ray, hands the pids of every process below the driver
to this watchdog. It waits on a pipe from the driver, which closes however the driver ends; then,
after Ray's own shutdown had its time, it stops those still running (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

GRACE_S = 5.0  # Ray's shutdown (a normal end, Ctrl+C) stops its processes first


def watch_ray_processes() -> subprocess.Popen:
    """Start the watchdog over the processes below this one (call after ``ray.init`` started Ray)."""
    processes = psutil.Process().children(recursive=True)
    watched = [f"{process.pid}:{process.create_time()}" for process in processes]
    return subprocess.Popen(
        [sys.executable, "-m", "bdlsweep.sweeps.cluster.ray_watchdog", *watched],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl+C to the driver's terminal does not stop it first
    )


def _still_running(watched: list[str]) -> list[psutil.Process]:
    """The watched processes still alive (a reused pid, with another start time, is not one of them)."""
    alive = []
    for entry in watched:
        pid, started = entry.split(":", 1)
        try:
            process = psutil.Process(int(pid))
            if process.create_time() == float(started):
                alive.append(process)
        except psutil.NoSuchProcess:
            continue
    return alive


def stop(processes: list[psutil.Process], timeout_s: float = 5.0) -> None:
    """SIGTERM ``processes``, then SIGKILL those still running after ``timeout_s``."""
    for process in processes:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(processes, timeout=timeout_s)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue


def main(watched: list[str]) -> None:
    """Wait for the driver to end (its pipe closes), then stop what is left of its Ray processes."""
    sys.stdin.buffer.read()
    deadline = time.monotonic() + GRACE_S
    while _still_running(watched) and time.monotonic() < deadline:
        time.sleep(0.5)
    stop(_still_running(watched))


if __name__ == "__main__":
    main(sys.argv[1:])
