"""What the pipeline needs to know about a method: settings, trainable, posterior, selection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from bdlsweep.trainables.posteriors.base import Posterior
from bdlsweep.trainables.settings import MethodSettings


@dataclass(frozen=True)
class DerivedSelection:
    """A second posterior read from the same trials, selected by its own metric (SWA from SWAG), and
    its row names in tables (alone, and its ensembles')."""

    posterior: type[Posterior]
    metric: str
    display_name: str
    ensemble_name: str | None = None


def count_epoch_passes(settings: Any) -> float:
    """A trial's passes over the training set when it trains for ``settings.epochs`` epochs."""
    return float(settings.epochs)


def count_epoch_reports(settings: Any) -> int:
    """A trial's reports when it reports once per epoch: ``settings.epochs``."""
    return settings.epochs


def count_no_passes(settings: Any) -> float:
    """A trial that only validates what its stage's preparation fitted: no pass over the training set."""
    return 0.0


@dataclass(frozen=True)
class TrainingPasses:
    """How a method reads the training set, for cost estimates: passes per trial (from its settings),
    passes per seed of its once-per-seed preparation, and the counting rule in words (``--dry-run``
    prints it). Validation and evaluation passes are counted apart."""

    per_trial: Callable[[Any], float] = count_epoch_passes
    per_seed: float = 0.0
    rule: str = "one pass per epoch"


@dataclass(frozen=True)
class Method:
    """One posterior approximation as the pipeline sees it.

    ``checkpoint`` says which checkpoint of a trial is its result: ``best`` (highest ``val_elpd``
    over the trial's reports, as for MAP's best epoch) or ``last`` (the finished posterior).
    ``likelihoods`` lists the data it supports; ``models``, when not empty, the architectures.
    ``parents`` lists the methods whose selected checkpoints this one starts from (empty: none);
    with ``parent_optional`` a stage may also leave ``from`` out and start from scratch.
    ``prepare(context, settings, seed, folder)``, when given, runs once per seed before the trials, so that
    work shared by a seed's grid points (features, Hessians) is not repeated per trial.
    ``tiny`` holds settings for a trial of seconds on a small network (what the method contract test
    runs; with them every multi-step method takes at least two steps).
    ``steps(settings)``, for methods whose trials report every step, is how many reports (epochs or
    iterations) a trial makes; None for methods that report once (they cannot be stopped early).
    ``passes`` says how many passes over the training set a trial and a seed's preparation make;
    ``probe`` holds the settings that shorten a trial to a few steps of the real size (``--probe``
    times one to estimate the sweep's hours): its integers are step counts, doubled for the probe's
    longer trial; ``probe_fixed`` holds probe settings kept as given. ``parent_problem(settings,
    parent_settings)``, when given, says why a trial with ``settings`` cannot start from a parent trained
    with ``parent_settings`` (the setting's key and the problem), or None when it can: checked when the
    sweep file is read. ``display_name`` is its row name in tables and plots, ``ensemble_name`` its
    ensembles' (K > 1) where they have their own (MAP's are deep ensembles), and ``hint`` what to change
    when its selection is worse on validation than the model it starts from. ``paper`` names the
    papers the method comes from (authors, year, title, venue), for its documentation page.
    """

    name: str
    display_name: str
    settings: type[MethodSettings]
    trainable: Callable
    posterior: type[Posterior]
    checkpoint: Literal["best", "last"] = "last"
    prepare: Callable | None = None
    parents: tuple[str, ...] = ()
    parent_optional: bool = False
    likelihoods: tuple[str, ...] = ("classification", "regression")
    models: tuple[str, ...] = ()
    derived: dict[str, DerivedSelection] = field(default_factory=dict)
    tiny: dict[str, Any] = field(default_factory=dict)
    steps: Callable[[Any], int] | None = None
    passes: TrainingPasses = TrainingPasses()
    probe: dict[str, Any] = field(default_factory=lambda: {"epochs": 2})
    probe_fixed: dict[str, Any] = field(default_factory=dict)
    parent_problem: Callable[[Any, Any], tuple[str, str] | None] | None = None
    ensemble_name: str | None = None
    hint: str = "check its grid"
    paper: str = ""
