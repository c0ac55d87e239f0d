"""Refuses a sweep whose MLflow tracking server does not answer, before any trial trains.

Also bounds MLflow's HTTP retries (its default backs off for minutes), so that a server that goes
away mid-sweep costs a trial result seconds, not minutes, before the logger sets it aside.
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TypeVar

from bdlsweep.sweeps.errors import SpecError
from bdlsweep.sweeps.spec_models import SweepSpec
from bdlsweep.sweeps.tracking import UNREACHABLE

logger = logging.getLogger(__name__)
Recorded = TypeVar("Recorded")

HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}
PROBE_TIMEOUT_S = 10


def unreachable_reason(tracking_uri: str) -> str | None:
    """Why an http(s) tracking server does not answer ``/health``; None when it or a local store is there."""
    if not tracking_uri.startswith(("http://", "https://")):
        return None
    try:
        urllib.request.urlopen(f"{tracking_uri.rstrip('/')}/health", timeout=PROBE_TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):  # an authenticating proxy answered: the server is there
            return None
        return f"it answers HTTP {error.code}, not MLflow"
    except (urllib.error.URLError, OSError) as error:
        return f"no MLflow server answers there ({getattr(error, 'reason', error)})"
    return None


def while_reachable(tracking_uri: str, missing: str, record: Callable[[], Recorded]) -> Recorded | None:
    """``record()`` (MLflow calls) unless the tracking server is away; then warn that ``missing`` (what
    was not recorded) waits for ``bdlsweep sync-mlflow`` and return None. The sweep goes on either way."""
    reason = unreachable_reason(tracking_uri)
    if reason is None:
        try:
            return record()
        except UNREACHABLE as error:
            reason = str(error).splitlines()[0]
    logger.warning("MLflow: %s (%s); run bdlsweep sync-mlflow later", missing, reason)
    return None


def check_tracking(spec: SweepSpec) -> None:
    """Raise ``SpecError`` when ``mlflow.tracking_uri`` is an http(s) server that does not answer."""
    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    reason = unreachable_reason(spec.tracking_uri)
    if reason is not None:
        raise SpecError(spec.source, "mlflow.tracking_uri", f"{spec.tracking_uri}: {reason}")
