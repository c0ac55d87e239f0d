"""What each evaluated method cost, one row per method as uncertainty-baselines prints beside its metrics:
its stage's training time over the whole grid and over the selected trials, in CPU- and GPU-seconds (each
trial's own time, Tune's ``time_total_s``, times the CPUs and GPUs it held), its members' evaluation (each
member's map task from its first result to its last, times ``evaluate.resources``), and one member's weights
and FLOPs per prediction (the single models' mean, from the evaluation)."""

from __future__ import annotations

import io

import pandas as pd

from bdlsweep.analysis import results, tables
from bdlsweep.storage.layout import SweepLayout
from bdlsweep.storage.locations import Location

COLUMNS = {
    "trials": "Trials",
    "cpu_s": "Train CPU-s (grid)",
    "selected_cpu_s": "Train CPU-s (selected)",
    "gpu_s": "Train GPU-s (grid)",
    "selected_gpu_s": "Train GPU-s (selected)",
    "eval_cpu_s": "Eval CPU-s",
    "eval_gpu_s": "Eval GPU-s",
    "params": "Params",
    "flops": "FLOPs per prediction",
}


def cost_table(storage: Location, record: dict, ensembles: pd.DataFrame) -> pd.DataFrame | None:
    """One row per evaluated method of the sweep at ``storage`` (its ``record``), indexed by method;
    the GPU columns only where some stage held GPUs. Methods whose selection or trials are not stored
    (results copied without them) have no row; None when none has."""
    chosen = results.selections(storage)
    if chosen.empty:
        return None
    members = _evaluated_members(storage)
    evaluated = record["evaluate"].get("resources") or {"cpu": 1.0, "gpu": 0.0}
    single = tables.final_test_rows(ensembles)
    single = single[single["K"] == 1]
    stage_trials: dict[str, pd.DataFrame] = {}
    rows = []
    for label in record["evaluate"]["methods"]:
        picked = chosen[chosen["label"] == label]
        if picked.empty or not results.experiment_folders(storage, picked["stage"].iloc[0]):
            continue
        stage = picked["stage"].iloc[0]
        if stage not in stage_trials:
            stage_trials[stage] = results.trials(storage, stage)
        trials = stage_trials[stage]
        held = record["stages"][stage]["resources"]
        seconds = trials["time_total_s"].fillna(0.0)
        selected = seconds[trials["trial_id"].isin(picked["trial_id"])].sum()
        predicted = (
            members[members["method"] == label]["seconds"].sum() if members is not None else float("nan")
        )
        singles = single[single["method"] == label]
        rows.append(
            {
                "method": label,
                "trials": len(trials),
                "cpu_s": seconds.sum() * held["cpu"],
                "selected_cpu_s": selected * held["cpu"],
                "gpu_s": seconds.sum() * held["gpu"],
                "selected_gpu_s": selected * held["gpu"],
                "eval_cpu_s": predicted * evaluated["cpu"],
                "eval_gpu_s": predicted * evaluated["gpu"],
                "params": singles["test_params"].mean() if "test_params" in singles else float("nan"),
                "flops": singles["test_flops"].mean() if "test_flops" in singles else float("nan"),
            }
        )
    if not rows:
        return None
    frame = pd.DataFrame(rows).set_index("method")
    unused = [] if (frame["gpu_s"] > 0).any() else ["gpu_s", "selected_gpu_s"]
    if members is None:  # an evaluation that did not time its members
        unused += ["eval_cpu_s", "eval_gpu_s"]
    elif not (frame["eval_gpu_s"] > 0).any():
        unused.append("eval_gpu_s")
    return frame.drop(columns=unused)


def _evaluated_members(storage: Location) -> pd.DataFrame | None:
    """The evaluation's members with the seconds each one's predictions took; None where not recorded."""
    path = SweepLayout(storage).evaluation_members
    if not path.is_file():
        return None
    members = pd.read_csv(io.StringIO(path.read_text()))
    return members if "seconds" in members else None


def cost_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The cost table as a reader sees it: methods by display name, seconds to one decimal, weights and
    FLOPs with K/M/G prefixes."""
    shown = pd.DataFrame(index=[tables.row_name(method) for method in frame.index])
    shown.index.name = "Method"
    for column in frame.columns:
        values = frame[column]
        if column == "trials":
            text = values.astype(int).astype(str)
        elif column in tables.COUNTS:
            text = values.map(lambda value, column=column: tables.cell_number(value, column))
        else:
            text = values.map(lambda value: f"{value:.1f}")
        shown[COLUMNS[column]] = text.to_numpy()
    return shown
