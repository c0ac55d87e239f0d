"""Tune's ``tuner.pkl`` kept restorable when a driver is killed while Tune rewrites it.

Every ``Tuner`` and ``Tuner.restore`` rewrites the file in place (truncate, then write), so a driver
killed in between leaves it empty and the stage could not resume (``EOFError: Ran out of input``). After
each write completes a copy is kept beside it (written atomically); a restore finding the file
unreadable puts the copy back first.
"""

from __future__ import annotations

import logging
import pickle

from bdlsweep.storage.locations import Location

logger = logging.getLogger(__name__)

TUNER_STATE = "tuner.pkl"  # Tune's own name for the file (ray.tune.impl.tuner_internal._TUNER_PKL)
KEPT_COPY = "tuner.pkl.kept"


def keep_tuner_state(folder: str) -> None:
    """Copy the Tuner's state file, just written by Tune, to its kept copy."""
    experiment = Location.parse(folder)
    (experiment / KEPT_COPY).write_bytes((experiment / TUNER_STATE).read_bytes())


def repair_tuner_state(folder: str) -> bool:
    """Put the kept copy back when the state file cannot be read; whether it did."""
    experiment = Location.parse(folder)
    state, kept = experiment / TUNER_STATE, experiment / KEPT_COPY
    try:
        pickle.loads(state.read_bytes())
        return False
    except (EOFError, pickle.UnpicklingError):
        if not kept.is_file():
            return False
    state.write_bytes(kept.read_bytes())
    logger.warning("%s was cut short by an interruption; restored the copy kept after it was written", state)
    return True
