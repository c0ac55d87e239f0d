"""Where a stored sweep stands, stage by stage, read from its storage alone (``bdlsweep status``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bdlsweep.analysis import results
from bdlsweep.analysis.grid_edges import grid_edge_notes
from bdlsweep.analysis.selection_checks import blown_up_notes, worse_than_parent_notes
from bdlsweep.analysis.selection_flags import worse_than_parent
from bdlsweep.storage.layout import SweepLayout
from bdlsweep.storage.locations import Location

DONE, NOT_STARTED, UNFINISHED, FAILED = "done", "not started", "running or interrupted", "failed"
STOPPED = "stopped early"  # by the stage's scheduler; shown only when some were
OUTCOMES = ("done", "diverged", "failed", "unfinished", STOPPED)


@dataclass
class StageStatus:
    """One stage: its state, trial counts by outcome, wall time so far and the selected trial per seed."""

    name: str
    method: str
    state: str = NOT_STARTED
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    wall_s: float = 0.0
    selected: dict[str, dict[int, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    refit: str = ""  # for a ``refit: true`` stage: done (evaluation uses the refit models) or not done
    cells: tuple[int, int] | None = None  # a suite's: (cells with the stage's selections, cells)

    def describe(self) -> str:
        """One line: ``stage map (map): done; 4 done, 0 diverged, 0 failed, 0 unfinished; wall 12 s; ...``."""
        shown = {outcome: count for outcome, count in self.counts.items() if count or outcome != STOPPED}
        counts = ", ".join(f"{count} {outcome}" for outcome, count in shown.items())
        line = f"stage {self.name} ({self.method}): {self.state}; {counts}; wall {self.wall_s:.0f} s"
        for label, members in self.selected.items():
            line += f"; {label} selected " + ", ".join(f"seed {s}: {t}" for s, t in sorted(members.items()))
        if self.cells is not None:
            line += f"; selected in {self.cells[0]} of {self.cells[1]} cells"
        if self.refit:
            line += f"; refit on train + validation: {self.refit}"
        return line + "".join(f"\n  warning: {note}" for note in self.notes)


def _outcome(trial, early_stopping: bool) -> str:
    result = trial.last_result or {}
    if trial.status == "ERROR":
        return "failed"
    if result.get("diverged"):
        return "diverged"
    if trial.status == "TERMINATED" and result.get("trial_complete"):
        return "done"
    if trial.status == "TERMINATED" and early_stopping:  # ended without its final report
        return STOPPED
    return "unfinished"


def _stage_status(storage: Location, name: str, record: dict, labels: dict[str, dict]) -> StageStatus:
    from ray.tune import ExperimentAnalysis

    status = StageStatus(name, record["method"])
    status.selected = {
        label: {int(seed): member["trial_id"] for seed, member in selection["members"].items()}
        for label, selection in labels.items()
        if selection["stage"] == name
    }
    status.notes = [
        f"{label}: {note}"
        for label, selection in labels.items()
        if selection["stage"] == name
        for note in grid_edge_notes(
            record.get("search", {}),
            {int(seed): member["config"] for seed, member in selection["members"].items()},
        )
    ]
    status.notes += _upstream_notes(record, labels, name)
    folders = results.experiment_folders(storage, name)
    if not folders:
        return status
    starts, ends, by_seed = [], [], {}
    finished: list[tuple[str, int, dict]] = []  # (trial id, seed, last result) of each finished trial
    for folder in folders:
        try:
            trials = ExperimentAnalysis(str(folder)).trials
        except (ValueError, OSError, RuntimeError):  # started, no state saved yet
            status.state = UNFINISHED
            continue
        for trial in trials:
            outcome = _outcome(trial, record.get("scheduler") is not None)
            status.counts[outcome] += 1
            by_seed.setdefault(trial.config.get("seed"), set()).add(outcome)
            result = trial.last_result or {}
            if outcome == "done":
                finished.append((trial.trial_id, trial.config.get("seed"), result))
            if "timestamp" in result:
                ends.append(result["timestamp"])
                starts.append(result["timestamp"] - result.get("time_total_s", 0.0))
    for label in status.selected:
        status.notes += blown_up_notes(label, labels[label]["metric"], finished)
    status.wall_s = max(ends) - min(starts) if ends else 0.0
    if status.selected:
        status.state = DONE
    elif status.counts["unfinished"] or status.state == UNFINISHED:
        status.state = UNFINISHED
    elif any(outcomes <= {"failed", "diverged"} for outcomes in by_seed.values()):
        status.state = FAILED
    else:
        status.state = UNFINISHED
    return status


def _upstream_notes(record: dict, labels: dict[str, dict], name: str) -> list[str]:
    """Notes on the stage's selections that are worse on validation than the one they start from."""
    upstream = labels.get(record.get("parent") or "")
    if upstream is None:
        return []

    def scores(selection: dict, metric: str) -> dict[int, float]:
        members = selection["members"].items()
        return {
            int(seed): float(member["metrics"][metric])
            for seed, member in members
            if metric in member["metrics"]
        }

    return [
        note
        for label, selection in labels.items()
        if selection["stage"] == name
        for note in worse_than_parent_notes(
            label,
            record["method"],
            selection["metric"],
            scores(selection, selection["metric"]),
            upstream["label"],
            scores(upstream, upstream["metric"]),
            record.get("search", {}),
            {int(seed): member["config"] for seed, member in selection["members"].items()},
        )
    ]


def sweep_status(sweep_dir: str | Path | Location) -> tuple[list[StageStatus], bool]:
    """Each stage's status in the order of the sweep record, and whether the evaluation is done."""
    storage = Location.parse(sweep_dir)
    layout = SweepLayout(storage)
    record = layout.read_record()
    if record.get("cells"):
        return _suite_status(layout, record)
    labels = _labels(layout)
    stages = [_stage_status(storage, name, stage, labels) for name, stage in record["stages"].items()]
    for status in stages:
        failure = layout.stage_failure(status.name)
        if not status.selected and failure.is_file():
            status.state = FAILED
            status.notes.append(f"failed: {failure.read_text().strip()}")
        if record["stages"][status.name].get("refit"):
            refit = status.selected and all(
                layout.refit_selection(label).is_file() for label in status.selected
            )
            status.refit = DONE if refit else "not done"
    return stages, layout.ensembles.is_file()


def _labels(layout: SweepLayout) -> dict[str, dict]:
    """The selection files of a sweep (or of a suite's cell) by label."""
    return {
        path.name.removesuffix(".json"): results.selection_record(path)
        for path in layout.selections.children()
        if path.name.endswith(".json")
    }


def _suite_status(layout: SweepLayout, record: dict) -> tuple[list[StageStatus], bool]:
    """A suite's stages: trial counts over every cell (one Tuner per stage), done once every cell
    has the stage's selections; and whether every cell's evaluation is done."""
    names = [cell["name"] for cell in record["cells"]]
    by_cell = {name: _labels(layout.cell_layout(name)) for name in names}
    stages = []
    for stage, stage_record in record["stages"].items():
        status = _stage_status(layout.root, stage, stage_record, {})
        selected = sum(
            any(selection["stage"] == stage for selection in by_cell[name].values()) for name in names
        )
        status.cells = (selected, len(names))
        if selected == len(names):
            status.state = DONE
        labels = sorted(
            {label for found in by_cell.values() for label, made in found.items() if made["stage"] == stage}
        )
        layouts = [layout.cell_layout(name) for name in names]
        status.notes += [f"{label}: {note}" for label, note in worse_than_parent(layouts, labels).items()]
        failures = [(name, layout.cell_layout(name).stage_failure(stage)) for name in names]
        failed = [(name, failure.read_text().strip()) for name, failure in failures if failure.is_file()]
        if failed and selected < len(names):
            status.state = FAILED
            status.notes += [f"failed in cell {name}: {why}" for name, why in failed[:3]]
            status.notes += [f"... and in {len(failed) - 3} more cells"] if len(failed) > 3 else []
        stages.append(status)
    return stages, results.evaluated(layout.root)
