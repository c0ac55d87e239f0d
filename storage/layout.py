"""Every path inside a sweep's storage folder, and references between its files that survive a move.

A sweep's storage folder (a local path or a bucket URI) is the only place its results live. This
module alone spells the names of the files and folders in it; every other module asks a
``SweepLayout`` for them. Files that point at other files of the same sweep (selections at
checkpoints, LLLA and LA-NF checkpoints at their MAP checkpoint and prepared folder) record the
path relative to the storage root, so a copied or moved folder (another machine, a bucket) still
loads. Folders written before references were relative recorded absolute paths; those are found
again under the root by their trailing components.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from bdlsweep.storage.locations import Location, is_uri

RECORD = "sweep.json"
TUNER_STATE = "tuner.pkl"  # what Ray Tune writes into every experiment folder it can restore


class UnreadableRecordError(ValueError):
    """A storage folder whose sweep record is missing, unreadable, cut off or not a sweep record."""


class MissingRecordError(UnreadableRecordError):
    """The storage folder holds no sweep record (nothing was run into it)."""


@dataclass(frozen=True)
class SweepLayout:
    """The named places inside one storage folder ``root``; with ``cell`` (a suite's dataset × model
    cell), those of that cell: its selections, prepared folders, per-seed Tuners, refits, evaluation
    and tables sit in a ``<cell>`` folder inside each of those folders. The stages' shared Tuners, the
    record and the tracking store stay at the root."""

    root: Location
    cell: str = ""

    def _in_cell(self, folder: Location) -> Location:
        return folder / self.cell if self.cell else folder

    @classmethod
    def at(cls, root: str | Location) -> SweepLayout:
        """The layout of the storage folder at ``root`` (a path or a URI)."""
        return cls(Location.parse(root))

    @property
    def record(self) -> Location:
        """The sweep's settings as run (what marks a folder as a sweep's storage root)."""
        return self.root / RECORD

    def read_record(self) -> dict[str, Any]:
        """The sweep record as run; ``UnreadableRecordError`` (one line: the file and what to do) when it
        is missing, unreadable, cut off or not a sweep record."""
        try:
            if not self.record.is_file():
                raise MissingRecordError(f"{self.record}: not a bdlsweep storage folder (no sweep record)")
            record = json.loads(self.record.read_text())
        except OSError as error:
            raise UnreadableRecordError(f"{self.record}: cannot read it ({error})") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise UnreadableRecordError(
                f"{self.record}: not readable JSON (cut off by a stopped run?); "
                "remove it to start this folder afresh"
            ) from None
        if not isinstance(record, dict):
            raise UnreadableRecordError(f"{self.record}: not a bdlsweep sweep record; remove it")
        return record

    @property
    def lock(self) -> Location:
        """Who runs the sweep now (host, process, start, heartbeat): one writer per storage folder."""
        return self.root / "run.lock"

    @property
    def source_copy(self) -> Location:
        """A copy of the sweep file, so the folder alone can resume it."""
        return self.root / "source.yaml"

    @property
    def mlflow_db(self) -> Location:
        """The default SQLite tracking store."""
        return self.root / "mlflow.db"

    @property
    def default_tracking_uri(self) -> str:
        """MLflow's URI of the default SQLite tracking store (a sweep file without ``tracking_uri``)."""
        return f"sqlite:///{self.mlflow_db}"

    def tracking_uri(self, record: dict[str, Any]) -> str:
        """The tracking store of the sweep ``record`` describes, read from this folder: the recorded URI,
        or this folder's own SQLite store where the record names the default store of the folder the
        sweep ran in (a moved or copied folder keeps its store, not the old place's)."""
        recorded = record["tracking_uri"]
        ran_in = record.get("storage")
        if isinstance(ran_in, str) and recorded == SweepLayout.at(ran_in).default_tracking_uri:
            return self.default_tracking_uri
        return recorded

    @property
    def mlflow_artifacts(self) -> Location:
        """Where the default tracking store keeps run artifacts."""
        return self.root / "mlartifacts"

    @property
    def data(self) -> Location:
        """Per-sweep data files made once (trained tokenizers)."""
        return self.root / "data"

    def stage(self, name: str) -> Location:
        """A stage's Ray Tune experiment folder (one Tuner, or ``seed_<n>`` sub-folders for Optuna)."""
        return self.root / name

    def stage_seed(self, name: str, seed: int) -> Location:
        """A stage's Tune experiment folder of one seed (stages searched per seed with Optuna)."""
        return self._in_cell(self.stage(name)) / f"seed_{seed}"

    def tune_experiments(self, name: str) -> list[Location]:
        """The Tune experiment folders a stage holds: its own folder (a grid) or one per seed (Optuna;
        a suite's: one per cell and seed)."""
        folder = self.stage(name)
        if (folder / TUNER_STATE).is_file():
            return [folder]
        folders = [self._in_cell(folder)] if self.cell else [folder, *folder.children()]
        return [
            path
            for parent in folders
            for path in parent.children()
            if path.name.startswith("seed_") and (path / TUNER_STATE).is_file()
        ]

    def refit(self, name: str) -> Location:
        """The Tune experiment folder of a stage's refits (``refit: true``): its selected configurations
        trained again on train + validation."""
        return self._in_cell(self.stage(name) / "refit")

    def refit_prepared(self, stage: str, seed: int) -> Location:
        """A seed's once-per-stage work for the refit, done on train + validation."""
        return self._in_cell(self.root / "prepared" / stage / "refit") / f"seed_{seed}"

    def refit_selection(self, label: str) -> Location:
        """The refit model per seed of a selection (what evaluation uses when the stage refits)."""
        return self._in_cell(self.root / "refits") / f"{label}.json"

    @property
    def selections(self) -> Location:
        """The folder of selection files."""
        return self._in_cell(self.root / "selections")

    def selection(self, label: str) -> Location:
        """The selected trial per seed of a stage or derived name."""
        return self.selections / f"{label}.json"

    def stage_failure(self, stage: str) -> Location:
        """Why the stage's selection failed (every trial of a seed diverged, a posterior refused as worse
        than its parent), kept until a run selects it; ``bdlsweep status`` shows it."""
        return self._in_cell(self.root / "failures") / f"{stage}.txt"

    @classmethod
    def of_selection(cls, path: str | Location) -> SweepLayout:
        """The layout of the storage folder that holds the selection file at ``path`` (the folder two
        levels up when no sweep record is found above it)."""
        return storage_root(path) or cls(Location.parse(path).parent.parent)

    def prepared(self, stage: str, seed: int) -> Location:
        """A seed's work done once before a stage's trials (features, Hessians)."""
        return self._in_cell(self.root / "prepared" / stage) / f"seed_{seed}"

    @property
    def evaluation(self) -> Location:
        """The evaluation's folder."""
        return self._in_cell(self.root / "evaluation")

    @property
    def ensembles(self) -> Location:
        """Tidy ensemble results: one row per method, K, ensemble, number of samples and split."""
        return self.evaluation / "ensembles.csv"

    @property
    def ensemble_members(self) -> Location:
        """Which seeds form each ensemble, in the paper's file format."""
        return self.evaluation / "ensemble_plan.tsv"

    def member_summaries(self, label: str, seed: int) -> Location:
        """One evaluated member's stored prediction summaries (per group of sets) and their key; the
        files inside are ``MemberSummaryFiles``'."""
        return self.evaluation / "members" / label / f"seed_{seed}"

    @property
    def evaluation_members(self) -> Location:
        """Per evaluated member: the node that predicted it, whether it is deterministic, its weights."""
        return self.evaluation / "members.csv"

    @property
    def evaluation_settings(self) -> Location:
        """The evaluation settings the stored results were made with."""
        return self.evaluation / "settings.json"

    @property
    def reliability(self) -> Location:
        """Test-set confidence bins per ensemble."""
        return self.evaluation / "reliability.csv"

    @property
    def score_histograms(self) -> Location:
        """OOD-score histograms per ensemble."""
        return self.evaluation / "ood_scores.csv"

    @property
    def reference_ceiling(self) -> Location:
        """The reference method's single members measured against each other, pair by pair."""
        return self.evaluation / "reference_ceiling.csv"

    @property
    def predictive_curves(self) -> Location:
        """The 1-D predictive curves."""
        return self.evaluation / "predictive_curves.csv"

    @property
    def results(self) -> Location:
        """The main table as written by ``bdlsweep run`` (a suite's: each cell's, and the suite's at the
        root)."""
        return self._in_cell(self.root / "results")

    def cell_layout(self, cell: str) -> SweepLayout:
        """The layout of one cell of a suite stored at this root."""
        return SweepLayout(self.root, cell)

    def table(self, suffix: str) -> Location:
        """The main table as ``md``, ``csv`` or ``tex``."""
        return self.results / f"table.{suffix}"

    @property
    def predictive_plot(self) -> Location:
        """The 1-D predictive plot."""
        return self.results / "predictive_1d.png"

    @property
    def report(self) -> Location:
        """What ``bdlsweep report`` writes."""
        return self.root / "report"

    @property
    def surfaces(self) -> Location:
        """Posterior-surface studies, one folder per label."""
        return self.root / "surfaces"

    def surface(self, label: str) -> SurfaceFiles:
        """The files of one posterior-surface study."""
        return SurfaceFiles(self.surfaces / label)

    @property
    def prior(self) -> Location:
        """Prior-study tables and plots (``PriorStudyFiles``)."""
        return self.root / "prior"

    def relative(self, target: str | Location) -> str:
        """``target`` as recorded in a file of this sweep: relative to the root when inside it."""
        address = str(Location.parse(target))
        prefix = str(self.root).rstrip("/") + "/"
        return address[len(prefix) :] if address.startswith(prefix) else address

    def resolve(self, recorded: str) -> Location:
        """The location a recorded reference names: relative ones under the root; an absolute one that is
        gone (the folder moved) is found again under the root by its trailing components."""
        if not _is_absolute(recorded):
            return self.root / recorded
        location = Location.parse(recorded)
        if location.is_file() or location.is_dir():
            return location
        parts = PurePosixPath(recorded.partition("://")[2] if is_uri(recorded) else recorded).parts
        for start in range(1, len(parts)):
            candidate = self.root / PurePosixPath(*parts[start:]).as_posix()
            if candidate.is_dir() or candidate.is_file():
                return candidate
        return location


@dataclass(frozen=True)
class SurfaceFiles:
    """A posterior-surface study's folder: grid values, anchor values, settings and contour plot."""

    folder: Location

    @property
    def grid(self) -> Location:
        return self.folder / "grid.csv"

    @property
    def anchors(self) -> Location:
        return self.folder / "anchors.csv"

    @property
    def settings(self) -> Location:
        return self.folder / "settings.json"

    @property
    def plot(self) -> Location:
        return self.folder / "surface.png"


def _is_absolute(recorded: str) -> bool:
    return is_uri(recorded) or recorded.startswith("/")


def storage_root(inside: str | Location) -> SweepLayout | None:
    """The layout of the sweep storage folder that holds ``inside`` (nearest folder with a sweep record)."""
    location = Location.parse(inside)
    while True:
        if (location / RECORD).is_file():
            return SweepLayout(location)
        parent = location.parent
        if parent == location:
            return None
        location = parent


def record_reference(target: str | Location) -> str:
    """How a file of a sweep records ``target``: relative to its storage root when it lies inside one."""
    layout = storage_root(target)
    return layout.relative(target) if layout is not None else str(Location.parse(target))


def resolve_reference(recorded: str, referrer: str | Location) -> str:
    """The address of ``recorded`` as read from a file at ``referrer`` (relative references are under the
    storage root that holds ``referrer``)."""
    if _is_absolute(recorded) and Location.parse(recorded).is_dir():
        return str(Location.parse(recorded))
    layout = storage_root(referrer)
    if layout is None:
        if not _is_absolute(recorded):
            raise FileNotFoundError(
                f"{referrer}: {recorded!r} is relative to a sweep folder, and none holds it"
            )
        return recorded
    return str(layout.resolve(recorded))


@dataclass(frozen=True)
class MemberSummaryFiles:
    """The files in one member's ``SweepLayout.member_summaries`` folder: ``key.json`` (what the
    summaries were made from, written last), ``curve.pt`` (its curve samples) and ``group_<n>.pt``."""

    folder: Location

    @property
    def key(self) -> Location:
        """What the stored summaries were made from and which prefixes they hold."""
        return self.folder / "key.json"

    @property
    def curve(self) -> Location:
        """The member's predictive samples over a 1-D input curve."""
        return self.folder / "curve.pt"

    def group(self, number: int) -> Location:
        """The summaries of group ``number`` of the evaluated sets."""
        return self.folder / f"group_{number}.pt"


@dataclass(frozen=True)
class ReportFiles:
    """A report's folder (``SweepLayout.report``, or a combined report's): the HTML page, the metric-group
    and cost tables and the plots (the main table's files are ``table.<suffix>`` beside them)."""

    folder: Location

    @property
    def page(self) -> Location:
        """The self-contained HTML page."""
        return self.folder / "report.html"

    def metric_groups(self, suffix: str) -> Location:
        """The metric-group table as ``md`` or ``csv``."""
        return self.folder / f"metric_groups.{suffix}"

    def plot(self, name: str) -> Location:
        """A plot as PNG, by its name (``metric_vs_K``, ``tuning_swag_lr``, ...)."""
        return self.folder / f"{name}.png"

    @property
    def cost(self) -> Location:
        """Each method's training CPU- and GPU-seconds, weights and FLOPs per prediction, as CSV."""
        return self.folder / "cost.csv"

    @property
    def paired(self) -> Location:
        """Each method's differences from MAP / DE paired over shared ensembles, as CSV."""
        return self.folder / "paired.csv"

    def label_noise_fit(self, stage: str) -> Location:
        """A label-noise stage's training and test accuracy per fraction, as CSV."""
        return self.folder / f"label_noise_{stage}.csv"


@dataclass(frozen=True)
class PriorStudyFiles:
    """A prior study's folder (``SweepLayout.prior``): each of its tables as CSV and each plot as PNG."""

    folder: Location

    def table(self, name: str) -> Location:
        """A table, by its name (``prior_functions``, ``prior_top_probability``, ...)."""
        return self.folder / f"{name}.csv"

    def plot(self, name: str) -> Location:
        """A plot, by its name (the name of the table it draws)."""
        return self.folder / f"{name}.png"

    def plots(self) -> dict[str, Location]:
        """The plots written so far, by name."""
        pictures = [child for child in self.folder.children() if child.name.endswith(".png")]
        return {picture.name.removesuffix(".png"): picture for picture in pictures}
