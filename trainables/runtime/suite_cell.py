"""A suite's trials: every cell's trial context handed to one Tuner, and each trial picking its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CELL = "cell"  # the config key naming a trial's (dataset, model) cell in a suite's Tuner


def per_cell(
    train: Callable[[dict[str, Any], Any], None],
) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    """``train(config, context)`` as a trainable given ``contexts`` (cell → context), which trains with
    the context of the cell its config names; it keeps ``train``'s name, which Tune uses for folders."""

    def trial(config: dict[str, Any], contexts: dict[str, Any]) -> None:
        train(config, contexts[config[CELL]])

    trial.__name__ = train.__name__
    trial.__qualname__ = train.__qualname__
    trial.__doc__ = train.__doc__
    return trial
