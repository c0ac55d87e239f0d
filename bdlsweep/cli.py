"""The ``bdlsweep`` command: ``run SWEEP.yaml [key=value ...]``, ``resume``, ``sync-mlflow``, ``report``,
``status``, ``ui``, ``surface``, ``prior``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import warnings
from typing import TYPE_CHECKING

from bdlsweep.sweeps.reading.errors import SpecError

if TYPE_CHECKING:
    from bdlsweep.storage.locations import Location

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bdlsweep", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run (or resume) a sweep file")
    run.add_argument("sweep", help="path of the sweep file (YAML)")
    run.add_argument("overrides", nargs="*", help="key.path=value overrides, e.g. seeds=3")
    run.add_argument("--dry-run", action="store_true", help="print the plan (stages, trials, resources) only")
    run.add_argument(
        "--probe",
        action="store_true",
        help="with the plan, time short trials of each stage here (or on ray.address) and estimate hours",
    )
    resume = commands.add_parser(
        "resume", help="resume the sweep stored in a folder (finished trials are kept)"
    )
    resume.add_argument("sweep_dir", help="the sweep's storage folder")
    resume.add_argument(
        "overrides", nargs="*", help="further overrides, e.g. a larger stages.map.resources.gpu"
    )
    resume.add_argument("--dry-run", action="store_true", help="print the plan only")
    sync = commands.add_parser(
        "sync-mlflow", help="record in MLflow what the sweep's storage holds and MLflow lacks"
    )
    sync.add_argument("sweep_dir", help="the sweep's storage folder (or URI)")
    report = commands.add_parser(
        "report",
        help="write the table, plots and report.html of a finished sweep (and log them to MLflow); "
        "of several sweeps, one combined table (a column group per dataset and model) into --out",
    )
    report.add_argument(
        "sweep_dirs", nargs="+", metavar="sweep_dir", help="a sweep's storage folder (or URI)"
    )
    report.add_argument("--out", help="where the combined table of several sweeps goes (a folder or URI)")
    status = commands.add_parser("status", help="each stage's state; exit code 1 if a stage failed")
    status.add_argument("sweep_dir", help="the sweep's storage folder (or URI)")
    surface = commands.add_parser(
        "surface", help="log-posterior, log-likelihood and log-prior on the plane through three checkpoints"
    )
    surface.add_argument("sweep_dir", help="the sweep's storage folder (or URI)")
    surface.add_argument(
        "--checkpoints",
        nargs=3,
        required=True,
        metavar="CHECKPOINT",
        help="LABEL:SEED (a selected checkpoint, e.g. map:1), LABEL:SEED:SAMPLE (a kept sample) or a folder",
    )
    surface.add_argument("--grid-size", type=int, default=20, help="grid points per direction (20)")
    surface.add_argument(
        "--limits",
        type=float,
        nargs=4,
        default=[-0.25, 1.25, -0.25, 1.25],
        metavar=("LEFT", "RIGHT", "BOTTOM", "TOP"),
        help="plane coordinates of the grid's edges (checkpoints at (0,0), (1,0) and (·,1))",
    )
    surface.add_argument("--temperature", type=float, default=1.0, help="divides both log-densities (1)")
    surface.add_argument("--weight-decay", type=float, default=1.0, help="prior precision: N(0, 1/wd) (1)")
    surface.add_argument("--name", default="surface", help="folder under <storage>/surfaces/ (surface)")
    surface.add_argument("--gpu", type=float, default=0.0, help="GPUs per grid-row task, e.g. 0.25 (0)")
    prior = commands.add_parser(
        "prior", help="prior studies of a sweep file's model and data: sample functions, correlations"
    )
    prior.add_argument("sweep", help="path of the sweep file (YAML): its model, dataset and storage")
    prior.add_argument("overrides", nargs="*", help="key.path=value overrides, e.g. dataset.name=mnist")
    prior.add_argument(
        "--variances",
        type=float,
        nargs="+",
        default=[0.0004, 0.01, 1.0],
        help="prior variances of every weight (default: the seed's std 0.02, 0.1, 1)",
    )
    prior.add_argument("--samples", type=int, default=100, help="weight samples per variance (100)")
    prior.add_argument("--inputs", type=int, default=200, help="test inputs used (classification; 200)")
    ui = commands.add_parser("ui", help="start the MLflow UI on 127.0.0.1 for the sweep's tracking store")
    ui.add_argument("sweep_dir", help="the sweep's storage folder (or URI)")
    ui.add_argument("--port", type=int, default=5000, help="port of the UI (default 5000)")
    return parser


def _stored_sweep(sweep_dir: str) -> tuple[Location, dict] | None:
    """The storage location and sweep record of ``sweep_dir`` (its tracking URI the one to use from
    there); None (after printing why) when it holds no sweep."""
    from bdlsweep.storage.layout import SweepLayout, UnreadableRecordError

    layout = SweepLayout.at(sweep_dir)
    try:
        record = layout.read_record()
    except UnreadableRecordError as error:
        print(f"error: {error}", file=sys.stderr)
        return None
    if "tracking_uri" in record:
        record["tracking_uri"] = layout.tracking_uri(record)
    return layout.root, record


def _resumable(spec) -> str:
    """Whether a run of ``spec`` would resume what its storage folder holds, in words."""
    from bdlsweep.sweeps.running.storage_guard import check_storage

    try:
        check_storage(spec)
    except SpecError:
        return "results of other settings: a run from here would stop"
    return "a run resumes from here"


def _probe_lines(spec) -> list[str]:
    """The probe's estimate as lines of the dry run (a failed probe says why in one line)."""
    from bdlsweep.sweeps.probe import describe_probes, probe_sweep

    where = f"the cluster at {spec.ray.address}" if spec.ray.address else "this machine"
    try:
        return [f"probe (three short trials per stage on {where}):", *describe_probes(probe_sweep(spec))]
    except RuntimeError as error:
        return [f"probe: {str(error).splitlines()[0]}"]


def run_command(sweep: str, overrides: list[str], dry_run: bool = False, probe: bool = False) -> int:
    """Validate the sweep file (exit 2 on a bad one), then run it and print its table, or print its plan
    (with ``probe``, timed on one shortened trial per stage)."""
    from bdlsweep.sweeps.pipeline import check_before_start
    from bdlsweep.sweeps.spec.loading import load_spec
    from bdlsweep.trainables.data.files import describe_missing

    missing_data = [] if dry_run else None  # a plan needs no data: missing files are listed after it
    try:
        spec = load_spec(sweep, overrides, missing_data)
    except SpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        check_before_start(spec)
        machine_note = None
    except SpecError as error:  # this machine cannot run it; a plan for a cluster is still useful
        if not dry_run:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
        machine_note = f"note: a run from here would stop: {error}"
    from bdlsweep.storage.layout import SweepLayout
    from bdlsweep.sweeps.pipeline import ensembles_to_evaluate, run_sweep

    if dry_run:
        from bdlsweep.sweeps.cost.dry_run import describe_dry_run

        print("\n".join(describe_dry_run(spec, ensembles_to_evaluate(spec))))
        if missing_data:
            print(f"note: a run from here would stop: dataset.data_dir: {describe_missing(missing_data)}")
        if machine_note is not None:
            print(machine_note)
        if probe and machine_note is None and not missing_data:
            print("\n".join(_probe_lines(spec)))
        if spec.layout.record.is_file():
            print(f"already in storage ({_resumable(spec)}):")
            print("\n".join(f"  {line}" for line in _status_lines(str(spec.storage))[0]))
        return 0
    from bdlsweep.storage.run_lock import StorageBusyError
    from bdlsweep.sweeps.tracking.run_status import StageInterrupted

    try:
        outcome = run_sweep(spec)
    except (SpecError, StorageBusyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except StageInterrupted as error:
        print(f"interrupted: {error}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(outcome.table_files["markdown"].read_text())  # with its caption and footnotes, as written
    for kind, path in outcome.table_files.items():
        print(f"{kind}: {path}")
    if spec.cells:
        cell = SweepLayout(spec.storage, "<cell>")
        print(f"ensemble results: {cell.ensembles} for each of the {len(spec.cells)} cells")
    else:
        print(f"ensemble results: {spec.layout.ensembles}")
    print(f"MLflow: mlflow ui --backend-store-uri {spec.tracking_uri}")
    return 0


def _is_override(word: str) -> bool:
    """``key.path=value`` or ``~key.path``: what ``run``, ``resume`` and ``prior`` take besides flags."""
    return not word.startswith("-") and ("=" in word or word.startswith("~"))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and hasattr(args, "overrides") and all(_is_override(word) for word in extra):
        args.overrides += extra  # overrides after a flag: run FILE --dry-run key=value
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("bdlsweep").setLevel(logging.INFO)
    logging.getLogger("ray.tune.analysis").setLevel(logging.ERROR)  # warns of each trial not started yet
    logging.getLogger("tensorboardX.x2num").setLevel(logging.ERROR)  # Tune logging a diverged (NaN) trial
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated")
    from bdlsweep.storage.stored_files import DamagedFileError

    try:
        return _dispatch(args)
    except DamagedFileError as error:  # a storage file changed by hand, by any command that reads it
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _dispatch(args: argparse.Namespace) -> int:
    """Run the command ``args`` name; its exit code."""
    if args.command == "run":
        return run_command(args.sweep, args.overrides, args.dry_run or args.probe, args.probe)
    if args.command == "resume":
        return resume_command(args.sweep_dir, args.overrides, args.dry_run)
    if args.command == "sync-mlflow":
        return sync_command(args.sweep_dir)
    if args.command == "report":
        return report_command(args.sweep_dirs, args.out)
    if args.command == "status":
        return status_command(args.sweep_dir)
    if args.command == "ui":
        return ui_command(args.sweep_dir, args.port)
    if args.command == "surface":
        return surface_command(args)
    if args.command == "prior":
        return prior_command(args)
    return EXIT_BAD_INPUT


def resume_command(sweep_dir: str, overrides: list[str], dry_run: bool = False) -> int:
    """Run a stored sweep again with the file and overrides it was run with (exit 2 if there is none)."""
    from bdlsweep.sweeps.running.resume import resume_arguments

    try:
        sweep, recorded = resume_arguments(sweep_dir)
    except SpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return run_command(str(sweep), [*recorded, *overrides], dry_run)


def sync_command(sweep_dir: str) -> int:
    """Log to MLflow what a stored sweep's Tune results hold and MLflow lacks; print what was added."""
    from bdlsweep.sweeps.running.resume import resume_arguments
    from bdlsweep.sweeps.spec.loading import load_spec
    from bdlsweep.sweeps.tracking.server_check import check_tracking

    try:
        sweep, recorded = resume_arguments(sweep_dir)
        spec = load_spec(sweep, recorded)
        check_tracking(spec)
    except SpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from bdlsweep.storage.run_lock import RunLock, StorageBusyError
    from bdlsweep.sweeps.mlflow_sync import sync_mlflow

    try:
        with RunLock(spec.layout):  # a running sweep records its own trials
            counts = sync_mlflow(spec)
    except StorageBusyError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(
        f"MLflow {spec.tracking_uri}, experiment {spec.experiment}: {counts.runs_created} run(s) created, "
        f"{counts.metrics_logged} metric value(s) logged, evaluation "
        f"{'recorded' if counts.evaluation_recorded else 'already there or not run yet'}"
    )
    return 0


def _evaluated_sweep(sweep_dir: str) -> tuple[Location, dict] | None:
    """``_stored_sweep`` of a sweep whose evaluation finished; None (after printing why) otherwise."""
    from bdlsweep.analysis import results
    from bdlsweep.storage.layout import SweepLayout

    stored = _stored_sweep(sweep_dir)
    if stored is None:
        return None
    layout = SweepLayout(stored[0])
    if not results.evaluated(stored[0]):
        print(f"error: {stored[0]}: {layout.relative(layout.ensembles)}: no evaluation yet", file=sys.stderr)
        return None
    return stored


def report_command(sweep_dirs: list[str], out: str | None = None) -> int:
    """Build ``report/`` of a finished sweep and attach it to its MLflow evaluation run, or the combined
    table of several into ``out``; print where the files are."""
    evaluated = [_evaluated_sweep(sweep_dir) for sweep_dir in sweep_dirs]
    if None in evaluated:
        return EXIT_BAD_INPUT
    if len(sweep_dirs) > 1 or out is not None:
        return _combined_report_command([storage for storage, _ in evaluated], out)
    from bdlsweep.analysis.report import build_report
    from bdlsweep.sweeps.tracking.records import log_report
    from bdlsweep.sweeps.tracking.server_check import while_reachable

    storage, record = evaluated[0]
    report = build_report(storage)
    files = list(report.files.values())
    logged = while_reachable(
        record["tracking_uri"],
        "report not attached",
        lambda: log_report(
            record["tracking_uri"], record["experiment"], record["name"], record["storage"], files, storage
        ),
        "run bdlsweep report again once it answers",
    )
    for name, location in report.files.items():
        print(f"{name}: {location}")
    if logged is not None:
        print(f"MLflow: artifacts report/ of run {logged} ({record['tracking_uri']})")
    return 0


def _combined_report_command(storages: list[Location], out: str | None) -> int:
    """Write the combined main table of ``storages`` into ``out``; print where its files are."""
    from bdlsweep.analysis.combined_report import build_combined_report

    if out is None:
        print(
            "error: report: several sweeps make one combined table; say where with --out FOLDER",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    try:
        report = build_combined_report(storages, out)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for name, location in report.files.items():
        print(f"{name}: {location}")
    return 0


def _status_lines(sweep_dir: str) -> tuple[list[str], bool]:
    """The status of each stage and of the evaluation, and whether a stage failed."""
    from bdlsweep.analysis.status import FAILED, sweep_status

    stages, evaluated = sweep_status(sweep_dir)
    lines = [stage.describe() for stage in stages]
    lines.append(f"evaluation: {'done' if evaluated else 'not done'}")
    return lines, any(stage.state == FAILED for stage in stages)


def status_command(sweep_dir: str) -> int:
    """Print where a stored sweep stands; 1 if a stage failed, 2 if the folder holds no sweep."""
    stored = _stored_sweep(sweep_dir)
    if stored is None:
        return EXIT_BAD_INPUT
    lines, failed = _status_lines(str(stored[0]))
    print(f"sweep in {stored[0]}")
    print("\n".join(lines))
    return EXIT_FAILED if failed else 0


def surface_command(args: argparse.Namespace) -> int:
    """Compute and log a posterior surface (``sweeps/studies/surface.py``); print the checkpoints' values
    and where its files are (exit 2 for a bad checkpoint name or setting)."""
    from bdlsweep.sweeps.studies.surface import SurfaceInputError, SurfaceSettings, surface_study

    stored = _stored_sweep(args.sweep_dir)
    if stored is None:
        return EXIT_BAD_INPUT
    storage, record = stored
    left, right, bottom, top = args.limits
    try:
        settings = SurfaceSettings(
            args.grid_size, left, right, bottom, top, args.temperature, args.weight_decay
        )
        surface, logged = surface_study(storage, record, args.checkpoints, settings, args.name, args.gpu)
    except SurfaceInputError as error:
        print(f"error: {storage}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for row in surface.anchors.itertuples(index=False):
        print(
            f"{row.checkpoint} at ({row.a:.3f}, {row.b:.3f}): log-posterior {row.log_posterior:.4g} "
            f"= log-likelihood {row.log_likelihood:.4g} + log-prior {row.log_prior:.4g}"
        )
    for location in surface.files:
        print(f"{location.name}: {location}")
    if logged is not None:
        print(f"MLflow: run {logged} ({record['tracking_uri']})")
    return 0


def prior_command(args: argparse.Namespace) -> int:
    """Run and log the prior studies (``sweeps/studies/prior_study.py``); print where the files are (exit
    2 for a bad sweep file or setting)."""
    from bdlsweep.sweeps.spec.loading import load_spec
    from bdlsweep.sweeps.studies.prior_study import logged_prior_study

    try:
        spec = load_spec(args.sweep, args.overrides)
    except SpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if min(args.variances) < 0 or args.samples < 2 or args.inputs < 2:
        print(f"error: {args.sweep}: --variances must be ≥ 0, --samples and --inputs ≥ 2", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        study, logged = logged_prior_study(spec, args.variances, args.samples, args.inputs)
    except ValueError as error:
        print(f"error: {args.sweep}: dataset.name: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for name, location in study.files.items():
        print(f"{name}: {location}")
    if logged is not None:
        print(f"MLflow: run {logged} ({spec.tracking_uri})")
    return 0


def _stop_group(process) -> None:
    """Stop ``process`` and everything in its process group: SIGTERM, and SIGKILL for what is left
    after 10 s (uvicorn workers and job runners outlive their parent otherwise)."""
    import contextlib
    import subprocess

    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _wait_until_serving(server, port: int, poll_s: float = 0.5) -> bool:
    """Wait until the UI at ``port`` answers its health check (MLflow takes tens of seconds to start on
    a loaded machine); False if the server process ended first."""
    import time

    from bdlsweep.sweeps.tracking.server_check import unreachable_reason

    while server.poll() is None:
        if unreachable_reason(f"http://127.0.0.1:{port}") is None:
            return True
        time.sleep(poll_s)
    return False


def ui_command(sweep_dir: str, port: int) -> int:
    """Serve ``mlflow ui`` on 127.0.0.1 for the sweep's tracking store until Ctrl+C (a tracking server
    is its own UI: its address is printed)."""
    import subprocess

    stored = _stored_sweep(sweep_dir)
    if stored is None:
        return EXIT_BAD_INPUT
    tracking_uri = stored[1]["tracking_uri"]
    if tracking_uri.startswith(("http://", "https://")):
        print(f"the sweep records to a tracking server: open {tracking_uri}")
        return 0
    print(f"starting the MLflow UI for {tracking_uri} ...", flush=True)
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri, "--workers", "1"]
    # One worker serves one researcher's browser; MLflow's job runner (three processes for its GenAI
    # jobs) has nothing to run here. Its own process group: stopping this command stops the server too.
    environment = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)], start_new_session=True, env=environment
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if _wait_until_serving(server, port):
            print(f"MLflow UI serving on http://127.0.0.1:{port} (Ctrl+C stops it)", flush=True)
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        _stop_group(server)


if __name__ == "__main__":
    sys.exit(main())
