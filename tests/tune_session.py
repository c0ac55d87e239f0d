"""An in-process stand-in for Ray Tune's trial session, so a trainable's contract is checked in seconds.

``report`` copies each reported checkpoint folder before Tune's caller deletes it, ``get_checkpoint``
hands back a chosen one (a resumed trial), and the trial id and node id are fixed. The real Tune path
runs in the end-to-end tests; this double only replaces the session calls ``runtime.reporting`` makes.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ray import tune


class RecordingSession:
    """Records a trial's reports; ``resume_from`` is the checkpoint folder ``get_checkpoint`` returns."""

    Checkpoint = tune.Checkpoint

    def __init__(self, folder: Path, resume_from: Path | None = None) -> None:
        self.folder = folder
        self.resume_from = resume_from
        self.reports: list[tuple[dict[str, Any], Path | None]] = []

    def report(self, metrics: dict[str, Any], checkpoint: tune.Checkpoint | None = None) -> None:
        kept = None
        if checkpoint is not None:
            kept = self.folder / f"checkpoint_{len(self.reports):06d}"
            shutil.copytree(checkpoint.path, kept)
        self.reports.append((dict(metrics), kept))

    def get_checkpoint(self) -> tune.Checkpoint | None:
        return None if self.resume_from is None else tune.Checkpoint.from_directory(str(self.resume_from))

    def get_context(self) -> SimpleNamespace:
        return SimpleNamespace(get_trial_id=lambda: "contract_trial")

    @property
    def checkpoints(self) -> list[Path]:
        """The folders of the reported checkpoints, in report order."""
        return [kept for _, kept in self.reports if kept is not None]


def run_in_session(
    trainable, config: dict, context, folder: Path, resume_from: Path | None = None
) -> RecordingSession:
    """Run ``trainable(config, context)`` in-process against a ``RecordingSession``; the session."""
    from bdlsweep.trainables.runtime import reporting

    session = RecordingSession(folder, resume_from)
    node = SimpleNamespace(get_runtime_context=lambda: SimpleNamespace(get_node_id=lambda: "local"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reporting, "tune", session)
        patch.setattr(reporting, "ray", node)
        trainable(config, context)
    return session
