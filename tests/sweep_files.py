"""Sweep files that tests write: the common scaffold of a small digits sweep, and writing one to disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def small_sweep(name: str, stages: dict[str, Any], evaluate: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A sweep of ``stages`` on digits with a 16-unit MLP and seed 1; ``top`` sets or replaces any other
    top-level key (``seeds``, ``dataset``, ``model``, ``storage``, ...)."""
    sweep = {
        "name": name,
        "dataset": {"name": "digits"},
        "model": {"name": "mlp", "hidden": [16]},
        "seeds": [1],
        "stages": stages,
        "evaluate": evaluate,
    }
    return {**sweep, **top}


def write_sweep(folder: Path, sweep: dict[str, Any], name: str = "sweep.yaml") -> Path:
    """``sweep`` written as YAML (keys in their given order) to ``folder / name``; the file's path."""
    path = Path(folder) / name
    path.write_text(yaml.safe_dump(sweep, sort_keys=False, allow_unicode=True))
    return path
