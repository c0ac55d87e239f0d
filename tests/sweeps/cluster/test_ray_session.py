"""A driver that started a local Ray leaves no Ray process behind, even when it is SIGKILLed."""

import signal
import subprocess
import sys
import time

import psutil
import pytest

DRIVER = """
import time
from bdlsweep.sweeps.cluster.ray_session import ray_for
with ray_for(num_cpus=1):
    print("up", flush=True)
    time.sleep(float(__import__("sys").argv[1]))
print("done", flush=True)
"""


def _command(process: psutil.Process) -> str:
    """A process's command line ("" once it has ended)."""
    try:
        return " ".join(process.cmdline())
    except (psutil.Error, OSError):
        return ""


def _gone_within(processes: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """The processes still running after ``timeout_s`` (an exited zombie child counts as gone)."""
    deadline = time.monotonic() + timeout_s
    alive = processes
    while alive and time.monotonic() < deadline:
        time.sleep(0.5)
        alive = [p for p in alive if _running(p)]
    return alive


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("ending", ["sigkill", "normal"])
def test_the_ray_processes_a_driver_started_stop_with_it(ending):
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, "600" if ending == "sigkill" else "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert driver.stdout.readline().strip() == "up"
    below = {p: _command(p) for p in psutil.Process(driver.pid).children(recursive=True)}
    assert any("raylet" in command for command in below.values())
    assert any("ray::" in command for command in below.values())  # agents: Ray's own reaper leaves them
    if ending == "sigkill":
        driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=60)
    left = _gone_within([p for p, command in below.items() if "ray_watchdog" not in command], timeout_s=30)
    assert not left, [below[p][:80] for p in left]
