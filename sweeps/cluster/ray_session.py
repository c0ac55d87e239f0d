"""Ray for one command: join a cluster or start a local one, stopped at the end however the command ends."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import ray

from bdlsweep.sweeps.cluster.ray_watchdog import watch_ray_processes

RAY_DEFAULTS = {
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    "RAY_AIR_NEW_OUTPUT": "0",  # Tune's newer output prints every Tuner's settings box, even at verbose=0
    # Ray stops an idle worker process above its soft limit (one per CPU) after 1 s, so the next stage's
    # Laplace preparation or evaluation task paid torch + laplace-torch imports again (~6 s a process);
    # kept for a minute, the tiny regression sweep took 36 s instead of 57 s
    "RAY_idle_worker_killing_time_threshold_ms": "60000",
}


def apply_ray_defaults() -> None:
    """Set bdlsweep's Ray and Tune settings in the environment, unless the user set them, before a
    local Ray starts (its processes read them from there)."""
    for key, value in RAY_DEFAULTS.items():
        os.environ.setdefault(key, value)


@contextmanager
def ray_for(address: str | None = None, num_cpus: int | None = None) -> Iterator[None]:
    """Join the Ray cluster at ``address`` (``auto``), or start a local one with ``num_cpus``, for the
    ``with`` block; a Ray already running in this process is used as it is.

    A local Ray is stopped when the block ends (normally, by an error or Ctrl+C), and SIGTERM is handled
    as Ctrl+C. Should this process be killed, a watchdog stops the Ray processes it started.
    """
    apply_ray_defaults()
    if ray.is_initialized():
        yield
        return
    ray.init(
        address=address,
        num_cpus=num_cpus if address is None else None,
        include_dashboard=False,
        logging_level=logging.WARNING,
        log_to_driver=False,
    )
    watchdog = watch_ray_processes() if address is None else None
    _stop_on_sigterm()
    try:
        yield
    finally:
        ray.shutdown()
        if watchdog is not None:
            watchdog.stdin.close()  # it stops whatever Ray's shutdown left, then exits


def _stop_on_sigterm() -> None:
    """Handle SIGTERM (a scheduler's or orchestrator's stop) as Ctrl+C: Tune saves its state and the
    Ray processes this driver started are stopped. Set after ``ray.init``, which installs its own."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
