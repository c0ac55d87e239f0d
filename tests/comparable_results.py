"""Results frames of two runs of one sweep, made comparable: what differs between runs by design left out."""

import pandas as pd

VARYING = ("trial_id", "checkpoint", "node_id", "pid", "hostname", "date", "timestamp", "time_", "iter")


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """A selections frame without ids, paths, times and nodes, in (label, seed) order."""
    kept = [c for c in frame.columns if not any(c == v or c.startswith(v) for v in VARYING)]
    return frame[kept].sort_values(["label", "seed"]).reset_index(drop=True)
