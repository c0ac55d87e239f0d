"""The one loop every iterative trainable runs: seed, restore, step, report with a checkpoint when due.

A method supplies an ``IterativeFit`` (its own maths: what one epoch or iteration does, what its
posterior is so far, what it needs to resume) and ``run_fit`` does the rest, the same for every method:
the trial's seed and device, restoring the last checkpoint's state (with torch's global random state,
so a resumed trial draws the dropout masks the uninterrupted one would), one Tune report per step (the
last marked final), the checkpoint cadence (``checkpoint_every_s``, every new best for methods whose
result is their best report), and divergence (a NaN or infinite objective ends the trial, see
``report``). A trial restored from its final checkpoint (its driver killed before Tune recorded the end)
reports that step's metrics again, from the checkpoint, so its result ends complete.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, get_args

import torch

from bdlsweep.trainables.posteriors.base import Posterior
from bdlsweep.trainables.runtime.reporting import SELECTION_METRIC, report, resume_state, trial_seed
from bdlsweep.trainables.runtime.training import seed_everything, trial_device
from bdlsweep.trainables.settings import MethodSettings

if TYPE_CHECKING:
    from bdlsweep.trainables.runtime.context import TrialContext

StepUnit = Literal["epoch", "iteration", "fit"]
STEP_UNITS: tuple[StepUnit, ...] = get_args(StepUnit)
STEPS_DONE = "steps_done"  # in saved state: how many steps the fit had run
LAST_METRICS = "last_metrics"  # in saved state: the step's report, given again by a trial resumed at its end

Settings = TypeVar("Settings", bound=MethodSettings)


@dataclass(frozen=True)
class TrialStart:
    """What every trial begins with: its settings, seed, data-order generator (torch, numpy and Python
    seeded too) and the device Ray gave it."""

    settings: Any
    seed: int
    generator: torch.Generator
    device: torch.device


def start_trial(config: dict[str, Any], settings_class: type[Settings]) -> TrialStart:
    """Validate a trial's settings from its config, seed every random source and pick its device."""
    seed = trial_seed(config)
    return TrialStart(settings_class.from_config(config), seed, seed_everything(seed), trial_device())


class IterativeFit(ABC):
    """A method's fit as ``steps`` steps that ``run_fit`` drives.

    ``unit``: what one step is, and the name of its counter in the trial's reports: an ``epoch`` over
    the data, an ``iteration`` of a sampler, or one whole ``fit``.

    ``keep_best``: the trial's result is its best report's checkpoint (MAP's best epoch), so a new
    best always carries a checkpoint.
    """

    steps: int
    unit: ClassVar[StepUnit] = "epoch"
    keep_best: bool = False

    @abstractmethod
    def step(self, index: int) -> tuple[dict[str, Any], Posterior | None]:
        """Run step ``index`` (0-based); its metrics (training and validation) and the posterior so far
        (None while there is none, e.g. a sampler still in burn-in)."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue after the last step: weights, optimizer, generators, samples."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a ``state_dict`` saved with a checkpoint of this trial."""


def run_fit(fit: IterativeFit, start: TrialStart, context: TrialContext) -> None:
    """Run ``fit`` from the start or from this trial's last checkpoint, reporting every step to Tune
    (a checkpoint every ``checkpoint_every_s``); a report far beyond the validation scores of the model
    the trial starts from (``context.parent_scores``) diverged."""
    every_s, parent = start.settings.checkpoint_every_s, context.parent_scores.get(start.seed)
    start = 0
    resumed = resume_state()
    if resumed is not None:
        fit.load_state_dict(resumed)
        _restore_global_rng(resumed)
        start = int(resumed[STEPS_DONE])
        if start == fit.steps and LAST_METRICS in resumed:  # restored from its final checkpoint
            report({fit.unit: start, **resumed[LAST_METRICS]}, final=True, parent=parent)
            return
    best = -math.inf  # the best validation ELPD since this process started the trial
    for index in range(start, fit.steps):
        metrics, posterior = fit.step(index)
        score = metrics.get(SELECTION_METRIC, -math.inf)
        improved = fit.keep_best and score > best
        best = max(best, score)
        report(
            {fit.unit: index + 1, **metrics},
            posterior,
            {**fit.state_dict(), **_global_rng(), STEPS_DONE: index + 1, LAST_METRICS: metrics},
            final=index + 1 == fit.steps,
            every_s=every_s,
            keep=improved,
            parent=parent,
        )


def _global_rng() -> dict[str, Any]:
    """torch's global random state (dropout masks, random initialisations), CPU and CUDA."""
    state = {"torch_rng": torch.get_rng_state()}
    if torch.cuda.is_initialized():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    return state


def _restore_global_rng(state: dict[str, Any]) -> None:
    """Set torch's global random state saved by ``_global_rng`` (CUDA's when the device count matches)."""
    if "torch_rng" in state:
        torch.set_rng_state(state["torch_rng"])
    cuda = state.get("cuda_rng")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def restore_loop(
    state: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
) -> None:
    """Load the weights, optimizer and data order of a ``loop_state`` back into a training loop."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["generator"])


def loop_state(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator, **extra: Any
) -> dict[str, Any]:
    """What a training loop needs to continue: weights, optimizer, data order, and ``extra``."""
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        **extra,
    }
