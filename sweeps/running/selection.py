"""Per-seed selection of the trial with the highest validation metric, stored beside the results."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from bdlsweep.storage.layout import SweepLayout
from bdlsweep.storage.locations import Location
from bdlsweep.storage.stored_files import DamagedFileError, read_json
from bdlsweep.trainables.runtime.reporting import PARENT_SCORES


@dataclass(frozen=True)
class TrialRecord:
    """One candidate: a trial's checkpoint (posterior folder) and the metrics it was reported with."""

    trial_id: str
    seed: int
    config: dict[str, Any]
    metrics: dict[str, Any]
    checkpoint: str


@dataclass(frozen=True)
class Selection:
    """The chosen trial per seed for one selectable name (a stage, or a derived one such as SWA);
    ``worse_than_parent``: the seeds whose choice is worse on validation than the ``parent`` selection
    it starts from (every table that shows it marks it)."""

    label: str
    stage: str
    method: str
    derived: str | None
    metric: str
    members: dict[int, TrialRecord]
    parent: str | None = None
    worse_than_parent: list[int] = field(default_factory=list)

    def checkpoints(self) -> dict[int, str]:
        """Seed → selected posterior folder."""
        return {seed: record.checkpoint for seed, record in self.members.items()}

    def scores(self) -> dict[int, dict[str, float]]:
        """Seed → the selected member's validation scores that a later stage's trials are held against."""
        return {
            seed: {key: float(record.metrics[key]) for key in PARENT_SCORES if key in record.metrics}
            for seed, record in self.members.items()
        }

    def save(self, layout: SweepLayout, path: Location | None = None) -> Location:
        """Write this selection's file in ``layout`` (at ``path``, by default its selection file)
        atomically, checkpoints relative to its root."""
        members = {
            str(seed): {**asdict(member), "checkpoint": layout.relative(member.checkpoint)}
            for seed, member in self.members.items()
        }
        record = {**asdict(self), "members": members}
        target = layout.selection(self.label) if path is None else path
        return target.write_text(json.dumps(record, indent=2, default=str))

    @classmethod
    def load(cls, path: str | Location) -> Selection:
        """Read a selection file; its checkpoints as addresses under the storage folder that holds it."""
        location = Location.parse(path)
        record = read_json(location)
        layout = SweepLayout.of_selection(path)
        try:
            members = {
                int(seed): TrialRecord(**{**member, "checkpoint": str(layout.resolve(member["checkpoint"]))})
                for seed, member in record.pop("members").items()
            }
            return cls(**record, members=members)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise DamagedFileError.not_a(location, "a selection record", error) from None


def _score(record: TrialRecord, metric: str) -> float:
    value = record.metrics.get(metric)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return -math.inf
    return float(value)


def select_per_seed(records: list[TrialRecord], metric: str, seeds: list[int]) -> dict[int, TrialRecord]:
    """For each seed, the record with the highest finite ``metric`` (ties: the first)."""
    chosen: dict[int, TrialRecord] = {}
    for seed in seeds:
        candidates = [r for r in records if r.seed == seed and _score(r, metric) > -math.inf]
        if not candidates:
            raise RuntimeError(f"no trial of seed {seed} reported a finite {metric}")
        chosen[seed] = max(candidates, key=lambda record: _score(record, metric))
    return chosen
