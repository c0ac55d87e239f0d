"""The Ray Tune side of a trial: report metrics with a checkpoint, and resume from the last one."""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune

from bdlsweep.trainables.posteriors.base import Posterior

POSTERIOR_DIR = "posterior"
TRAINING_STATE_FILE = "training.pt"


COMPLETE = "trial_complete"
NODE_ID = "node_id"
GPU_MEMORY_PEAK = "gpu_memory_peak_mib"
DIVERGED = "diverged"
DIVERGED_BECAUSE = "diverged_because"  # why: the trial's own reason, or its scores beyond its parent's
SELECTION_METRIC = "val_elpd"
OBJECTIVES = ("train_loss", "negative_elbo", "train_log_likelihood", SELECTION_METRIC)
PARENT_SCORES = (SELECTION_METRIC, "val_rmse")  # what a trial is held against in the model it starts from
RMSE_BEYOND = 100.0  # a validation RMSE over 100× its parent's is a blown-up posterior
NLL_BEYOND = 10.0  # so is a validation NLL worse than its parent's by 10 × max(|parent's NLL|, 1) nats

_checkpointed_at: dict[str, float] = {}  # trial id → when its last checkpoint was reported


def has_diverged(metrics: dict[str, Any]) -> bool:
    """Whether a training objective or the selection metric in ``metrics`` is NaN or infinite."""
    return any(
        isinstance(metrics.get(key), (int, float)) and not math.isfinite(metrics[key]) for key in OBJECTIVES
    )


def beyond_parent(metrics: dict[str, Any], parent: dict[str, float] | None) -> str | None:
    """Why ``metrics`` lie orders of magnitude beyond ``parent``'s validation scores (those of the
    selected model a trial starts from), or None. A posterior built around a good model cannot be that
    much worse unless its settings blew it up (e.g. SGD on a Gaussian NLL whose variances Adam drove to
    1e-4): a finite score does not make it a result, however the rest of its grid did."""
    if not parent:
        return None
    rmse, parent_rmse = metrics.get("val_rmse"), parent.get("val_rmse")
    if _finite(rmse) and _finite(parent_rmse) and rmse > RMSE_BEYOND * max(parent_rmse, 1e-12):
        return f"val_rmse={rmse:.3g} is over {RMSE_BEYOND:g}× its parent's {parent_rmse:.3g}"
    elpd, parent_elpd = metrics.get(SELECTION_METRIC), parent.get(SELECTION_METRIC)
    if _finite(elpd) and _finite(parent_elpd) and parent_elpd - elpd > NLL_BEYOND * max(abs(parent_elpd), 1):
        return (
            f"{SELECTION_METRIC}={elpd:.3g} is over {NLL_BEYOND:g} × max(|{parent_elpd:.3g}|, 1) below its "
            "parent's"
        )
    return None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def stop_diverged(trial_id: str, result: dict[str, Any]) -> bool:
    """Tune stopper: end a trial at its first diverged report."""
    return bool(result.get(DIVERGED))


def report(
    metrics: dict[str, Any],
    posterior: Posterior | None = None,
    training_state: dict[str, Any] | None = None,
    *,
    final: bool,
    every_s: float = 0.0,
    keep: bool = False,
    parent: dict[str, float] | None = None,
) -> None:
    """Report ``metrics`` to Tune; with a posterior, also a checkpoint holding it when one is due.

    ``final`` marks a trial's last report (as ``trial_complete``), which is how the pipeline tells
    a finished trial from one stopped by Ctrl+C (Tune marks both terminated). The checkpoint folder
    holds ``posterior/`` (what later stages and evaluation load) and
    ``training.pt`` (optimizer and loop state, for resuming the trial). Every report also names the
    Ray node the trial ran on (``node_id``), so placement on a cluster can be checked, and on a GPU
    the trial's peak CUDA memory so far (``gpu_memory_peak_mib``), so packing can be sized. A report whose
    objective is NaN or infinite, or whose validation scores lie orders of magnitude beyond ``parent``'s
    (the validation scores of the model the trial starts from, see ``beyond_parent``), is marked
    ``diverged`` (and final) with its reason and saves no checkpoint; the stage's stopper then ends the
    trial and selection never picks it.

    A checkpoint is due with the final report, with one marked ``keep`` (a new best epoch, for
    methods whose result is their best checkpoint), and otherwise when ``every_s`` seconds have
    passed since the trial's last one (its first report always has one). Each checkpoint costs
    the trial a write and Tune's driver a copy and an experiment-state save, which on sub-second
    epochs cost more than the epoch.
    """
    because = beyond_parent(metrics, parent)
    if because is not None:
        metrics = {**metrics, DIVERGED_BECAUSE: because}
    diverged = has_diverged(metrics) or because is not None
    node = ray.get_runtime_context().get_node_id()
    metrics = {**metrics, DIVERGED: diverged, COMPLETE: final or diverged, NODE_ID: node}
    if torch.cuda.is_initialized():
        metrics[GPU_MEMORY_PEAK] = torch.cuda.max_memory_allocated() / 2**20
    trial = tune.get_context().get_trial_id()
    now = time.monotonic()
    due = final or keep or now - _checkpointed_at.get(trial, -math.inf) >= every_s
    if posterior is None or diverged or not due:
        tune.report(metrics)
        return
    if final:
        _checkpointed_at.pop(trial, None)  # a reused actor process runs many trials: keep no stale entry
    else:
        _checkpointed_at[trial] = now
    with tempfile.TemporaryDirectory() as folder:
        posterior.save(Path(folder) / POSTERIOR_DIR)
        if training_state is not None:
            torch.save(training_state, Path(folder) / TRAINING_STATE_FILE)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


def resume_state() -> dict[str, Any] | None:
    """The training state of this trial's last checkpoint, or None on a fresh start."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        path = Path(folder) / TRAINING_STATE_FILE
        if not path.is_file():
            return None
        return torch.load(path, map_location="cpu", weights_only=True)


def trial_seed(config: dict[str, Any]) -> int:
    """The seed of a trial: every stage's param space crosses its search space with the seeds."""
    return int(config["seed"])
