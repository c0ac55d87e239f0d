"""Refuses a sweep whose MLflow tracking server does not answer, before any trial trains.

Also bounds MLflow's HTTP retries (its default backs off for minutes), so that a server that goes
away mid-sweep costs a trial result seconds, not minutes, before the logger sets it aside.
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import TypeVar

from bdlsweep.sweeps.reading.errors import SpecError
from bdlsweep.sweeps.spec.models import SweepSpec
from bdlsweep.sweeps.tracking.records import UNREACHABLE
from bdlsweep.trainables.data.files import described

logger = logging.getLogger(__name__)
Recorded = TypeVar("Recorded")

HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}
PROBE_TIMEOUT_S = 10
DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")  # SQLAlchemy URIs MLflow stores runs in
REMOTE_SCHEMES = ("databricks", "databricks-uc", "uc")


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


def while_reachable(
    tracking_uri: str,
    missing: str,
    record: Callable[[], Recorded],
    later: str = "run bdlsweep sync-mlflow later",
) -> Recorded | None:
    """``record()`` (MLflow calls) unless the tracking server is away; then warn that ``missing`` (what
    was not recorded) waits for ``later`` (what to run once it answers) and return None. The command
    goes on either way."""
    reason = unreachable_reason(tracking_uri)
    if reason is None:
        try:
            return record()
        except UNREACHABLE as error:
            reason = str(error).splitlines()[0]
    logger.warning("MLflow: %s (%s); %s", missing, reason, later)
    return None


def database_reason(tracking_uri: str) -> str | None:
    """Why MLflow could not use the database URI ``tracking_uri`` (SQLAlchemy's form, e.g.
    ``postgresql+psycopg2://...``): no such driver installed, or no database answering; None when it
    answers (a SQLite file MLflow creates)."""
    import sqlalchemy
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
    from sqlalchemy.pool import NullPool

    try:
        url = sqlalchemy.engine.make_url(tracking_uri)
        timeout = {"connect_timeout": PROBE_TIMEOUT_S} if url.get_backend_name() == "postgresql" else {}
        engine = sqlalchemy.create_engine(url, connect_args=timeout, poolclass=NullPool)
    except (ArgumentError, NoSuchModuleError, ImportError) as error:
        hint = "; postgresql+psycopg2:// uses the one .[dev] installs" if "postgres" in tracking_uri else ""
        return f"SQLAlchemy cannot load its driver ({described(error)}){hint}"
    if url.get_backend_name() == "sqlite":
        return None
    try:
        with engine.connect():
            return None
    except SQLAlchemyError as error:
        return f"the database does not answer ({described(getattr(error, 'orig', None) or error)})"
    finally:
        engine.dispose()


def check_tracking(spec: SweepSpec) -> None:
    """Raise ``SpecError`` when ``mlflow.tracking_uri`` is an http(s) server or a database that does not
    answer, or a kind of URI MLflow has no store for."""
    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    uri = spec.tracking_uri
    scheme = urllib.parse.urlparse(uri).scheme
    if scheme.split("+")[0] in DATABASE_SCHEMES:
        reason = database_reason(uri)
    elif scheme in ("", "file", "http", "https", *REMOTE_SCHEMES) or len(scheme) == 1:  # C:\ on Windows
        reason = unreachable_reason(uri)
    else:
        reason = f"MLflow has no store for {scheme}:// (use http(s)://, sqlite:///, postgresql+psycopg2://)"
    if reason is not None:
        raise SpecError(spec.source, "mlflow.tracking_uri", f"{_shown(uri)}: {reason}")


def _shown(uri: str) -> str:
    """``uri`` with any password in it masked."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.password is None:
        return uri
    return uri.replace(f":{parsed.password}@", ":***@", 1)
