"""SGMCMC (SGLD, SGHMC, preconditioned, cyclical) as a Ray trainable; the kept samples are the posterior.

A trial runs the sampler from a fresh initialisation on the full-data energy
U(θ) = N · mean minibatch NLL + |θ|² / (2 σ²). With ``schedule: constant`` it keeps a sample every
``thin`` epochs after ``burn_in`` epochs; with ``schedule: cyclical`` the step size follows a cosine
in each of ``cycles`` cycles, the first ``exploration`` fraction of each cycle runs without noise
(optimisation) and a sample is kept at the end of every later epoch of the cycle. At most
``max_samples`` (the most recent) are kept. The checkpoint stores the samples; ``predict`` replays them.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from bdlsweep.trainables.inference.network_weights import weight_vector
from bdlsweep.trainables.inference.sgmcmc_optimizer import SGMCMC
from bdlsweep.trainables.method import Method, count_epoch_reports
from bdlsweep.trainables.posteriors.stored_samples import SampledWeightsPosterior
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.training import for_training, train_epoch
from bdlsweep.trainables.runtime.trial_loop import (
    IterativeFit,
    TrialStart,
    loop_state,
    restore_loop,
    run_fit,
    start_trial,
)
from bdlsweep.trainables.settings import MethodSettings, SpeedSettings


class SGMCMCSettings(MethodSettings):
    """Hyper-parameters of SGLD / SGHMC; ``lr`` (the step size on U) and ``temperature`` are tuned."""

    sampler: Literal["sgld", "sghmc"] = "sghmc"
    """Stochastic-gradient Langevin dynamics or Hamiltonian Monte Carlo."""
    lr: float = Field(1e-5, gt=0)
    """Step size on the energy U (the papers tune it)."""
    momentum_decay: float = Field(0.1, gt=0, le=1)
    """SGHMC's friction: the share of momentum lost per step."""
    preconditioning: bool = False
    """RMSprop-style diagonal preconditioning of the gradient and noise."""
    temperature: float = Field(1.0, ge=0)
    """Posterior temperature T (the noise is scaled by √T; 0 is optimisation)."""
    prior_variance: float = Field(1.0, gt=0)
    """Variance σ² of the Gaussian prior on every weight."""
    schedule: Literal["constant", "cyclical"] = "constant"
    """Constant step size, or cyclical (a cosine per cycle)."""
    cycles: int = Field(4, gt=0)
    """Cyclical schedule: number of cycles over the epochs."""
    exploration: float = Field(0.8, ge=0, lt=1)
    """Cyclical schedule: share of each cycle run without noise before samples are kept."""
    epochs: int = Field(40, gt=0)
    """Sampler epochs over the training set."""
    burn_in: int = Field(10, ge=0)
    """Constant schedule: epochs before the first kept sample."""
    thin: int = Field(1, gt=0)
    """Constant schedule: keep a sample every this many epochs."""
    max_samples: int = Field(50, gt=0)
    """Most samples kept (the most recent)."""
    batch_size: int = Field(128, gt=0)
    """Minibatch size."""
    val_samples: int = Field(20, gt=0)
    """Kept samples used per validation."""
    augment: bool = False
    """Apply the dataset's training augmentation."""
    speed: SpeedSettings = SpeedSettings()
    """Precision, memory layout and compilation of the training loop (see its keys)."""

    @model_validator(mode="after")
    def _keeps_a_sample(self) -> SGMCMCSettings:
        if self.schedule == "constant" and self.burn_in >= self.epochs:
            raise ValueError(
                f"burn_in ({self.burn_in}) must be below epochs ({self.epochs}) to keep a sample"
            )
        if self.schedule == "cyclical" and self.epochs < self.cycles:
            raise ValueError(f"epochs ({self.epochs}) must be at least cycles ({self.cycles})")
        return self


class SGMCMCPosterior(SampledWeightsPosterior):
    """The samples an SGMCMC trial kept."""

    method: ClassVar[str] = "sgmcmc"


def _keeps_sample(settings: SGMCMCSettings, epoch: int) -> bool:
    """Whether the end of ``epoch`` (0-based) is a sampling point of the schedule."""
    if settings.schedule == "cyclical":
        epochs_per_cycle = max(1, settings.epochs // settings.cycles)
        return (epoch % epochs_per_cycle + 1) / epochs_per_cycle > settings.exploration
    return epoch >= settings.burn_in and (epoch - settings.burn_in) % settings.thin == 0


def _sampler(model: nn.Module, settings: SGMCMCSettings, data_size: int, noise: torch.Generator) -> SGMCMC:
    """The sampler over ``model``'s weights; a cyclical cycle spans ``epochs // cycles`` epochs."""
    cycle_steps = None
    if settings.schedule == "cyclical":
        cycle_steps = settings.epochs // settings.cycles * math.ceil(data_size / settings.batch_size)
    return SGMCMC(
        model.parameters(),
        lr=settings.lr,
        data_size=data_size,
        momentum_decay=1.0 if settings.sampler == "sgld" else settings.momentum_decay,
        temperature=settings.temperature,
        prior_precision=1.0 / settings.prior_variance,
        preconditioning=settings.preconditioning,
        cycle_steps=cycle_steps,
        exploration=settings.exploration,
        generator=noise,
    )


class SGMCMCFit(IterativeFit):
    """The sampler's epochs from a fresh initialisation; samples kept per the schedule are the posterior."""

    def __init__(self, start: TrialStart, context: TrialContext) -> None:
        settings: SGMCMCSettings = start.settings
        self.start, self.settings = start, settings
        self.data = context.load_data(start.device, train_on_device=settings.speed.train_data == "device")
        self.recipe = context.recipe(self.data)
        self.model = self.recipe.build().to(start.device)
        self.noise = torch.Generator(device=start.device).manual_seed(start.seed + 1)
        self.sampler = _sampler(self.model, settings, len(self.data.train.labels), self.noise)
        size = sum(p.numel() for p in self.model.parameters())
        self.samples = torch.empty(0, size, device=start.device)
        self.trained = for_training(self.model, settings.speed)
        self.steps = settings.epochs

    def step(self, index: int) -> tuple[dict[str, Any], SGMCMCPosterior | None]:
        settings, data, likelihood = self.settings, self.data, self.recipe.output_model
        self.sampler.set_phase(adapt_preconditioner=index < max(settings.burn_in, 1))
        loss = train_epoch(
            self.trained,
            self.sampler,
            data.train.inputs,
            data.train.labels,
            settings.batch_size,
            self.start.generator,
            likelihood,
            data.augment if settings.augment else None,
            settings.speed,
        )
        if _keeps_sample(settings, index):
            kept = torch.cat([self.samples, weight_vector(self.model.parameters()).detach()[None]])
            self.samples = kept[-settings.max_samples :]
        metrics = {"train_loss": loss, "kept_samples": len(self.samples)}
        if not len(self.samples):
            return metrics, None
        evaluation_model = self.recipe.build().to(self.start.device)
        evaluation_model.load_state_dict(self.model.state_dict())
        posterior = SGMCMCPosterior(evaluation_model, self.recipe, self.samples, data.train.inputs)
        replay = torch.Generator(device=self.start.device).manual_seed(self.start.seed)
        outputs = posterior.predict(data.val.inputs, min(settings.val_samples, len(self.samples)), replay)
        return {**metrics, **likelihood.validation(outputs, data.val.labels)}, posterior

    def state_dict(self) -> dict[str, Any]:
        return loop_state(
            self.model, self.sampler, self.start.generator, samples=self.samples, noise=self.noise.get_state()
        )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        restore_loop(state, self.model, self.sampler, self.start.generator)
        self.samples = state["samples"].to(self.start.device)
        self.noise.set_state(state["noise"])


def train_sgmcmc(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune trainable: run the sampler, keep samples per the schedule, report validation metrics."""
    start = start_trial(config, SGMCMCSettings)
    run_fit(SGMCMCFit(start, context), start, context)


METHOD = Method(
    name="sgmcmc",
    display_name="SGMCMC",
    hint="lower the learning-rate grid",
    settings=SGMCMCSettings,
    steps=count_epoch_reports,
    trainable=train_sgmcmc,
    posterior=SGMCMCPosterior,
    checkpoint="last",
    tiny={"epochs": 3, "burn_in": 1, "batch_size": 256, "val_samples": 2},
    probe={"epochs": 2, "burn_in": 1, "cycles": 1},
    paper=(
        'Welling & Teh (2011), "Bayesian Learning via Stochastic Gradient Langevin Dynamics", ICML; Chen,'
        ' Fox & Guestrin (2014), "Stochastic Gradient Hamiltonian Monte Carlo", ICML; Zhang, Li, Zhang, '
        'Chen & Wilson (2020), "Cyclical Stochastic Gradient MCMC for Bayesian Deep Learning", ICLR'
    ),
)
