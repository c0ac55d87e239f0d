"""Run a sweep on the Ray cluster this script runs in: ``bdlsweep run`` with the cluster's defaults.

Entry point of ``ray submit cluster.yaml bdlsweep/submit.py SWEEP.yaml [key=value ...]`` and of
``ray job submit --working-dir . -- python bdlsweep/submit.py SWEEP.yaml [...]``. It joins the running
cluster (``ray.address=auto``), records to the head's MLflow server (``$MLFLOW_TRACKING_URI``, or
``http://<this node's address>:5000`` as ``cluster.yaml`` starts it) and stores the sweep under the
shared storage root (``--storage-root``: a folder or a bucket URI, default ``/mnt/shared/runs``, as
``storage=<root>/<file stem>``). Overrides given after the sweep file come last and so win over these
defaults.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bdlsweep.storage.locations import Location

MLFLOW_PORT = 5000
STORAGE_ROOT = "/mnt/shared/runs"


def sweep_path(name: str) -> Path:
    """The sweep file as given, or relative to the installed project (``sweeps/X.yaml``): ``ray submit``
    runs a copy of this script from the home folder, so its own location says nothing."""
    from bdlsweep import sweeps

    given = Path(name).expanduser()
    if given.is_file() or given.is_absolute():
        return given
    return Path(sweeps.__file__).resolve().parents[1] / name


def tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI``, or the MLflow server ``cluster.yaml`` starts on this (head) node."""
    if "MLFLOW_TRACKING_URI" in os.environ:
        return os.environ["MLFLOW_TRACKING_URI"]
    import ray.util

    return f"http://{ray.util.get_node_ip_address()}:{MLFLOW_PORT}"


def cluster_arguments(argv: list[str]) -> list[str]:
    """``bdlsweep run`` arguments for this cluster: the sweep file, cluster defaults, then overrides."""
    parser = argparse.ArgumentParser(prog="submit.py", description=__doc__.splitlines()[0])
    parser.add_argument("sweep", help="sweep file (as given, or relative to the installed project)")
    parser.add_argument("overrides", nargs="*", help="key.path=value overrides")
    parser.add_argument(
        "--storage-root", default=STORAGE_ROOT, help="shared folder or bucket URI (s3://, gs://)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan only")
    args = parser.parse_args(argv)
    path = sweep_path(args.sweep)
    defaults = [
        "ray.address=auto",
        f"mlflow.tracking_uri={tracking_uri()}",
        f"storage={Location.parse(args.storage_root) / path.stem}",
    ]
    return ["run", str(path), *defaults, *args.overrides, *(["--dry-run"] if args.dry_run else [])]


def main(argv: list[str] | None = None) -> int:
    """Run the sweep through the same pipeline as ``bdlsweep run``; its exit code."""
    from bdlsweep.cli import main as bdlsweep_main

    return bdlsweep_main(cluster_arguments(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
