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

from bdlsweep.trainables.inference.sgmcmc_optimizer import SGMCMC
from bdlsweep.trainables.method import Method
from bdlsweep.trainables.posteriors.stored_samples import SampledWeightsPosterior
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.reporting import loop_state, report, resume_loop, trial_seed
from bdlsweep.trainables.runtime.training import (
    for_training,
    seed_everything,
    train_epoch,
    trial_device,
    weight_vector,
)
from bdlsweep.trainables.settings import MethodSettings, SpeedSettings


class SGMCMCSettings(MethodSettings):
    """Hyper-parameters of SGLD / SGHMC; ``lr`` (the step size on U) and ``temperature`` are tuned."""

    sampler: Literal["sgld", "sghmc"] = "sghmc"
    lr: float = Field(1e-5, gt=0)
    momentum_decay: float = Field(0.1, gt=0, le=1)
    preconditioning: bool = False
    temperature: float = Field(1.0, ge=0)
    prior_variance: float = Field(1.0, gt=0)
    schedule: Literal["constant", "cyclical"] = "constant"
    cycles: int = Field(4, gt=0)
    exploration: float = Field(0.8, ge=0, lt=1)
    epochs: int = Field(40, gt=0)
    burn_in: int = Field(10, ge=0)
    thin: int = Field(1, gt=0)
    max_samples: int = Field(50, gt=0)
    batch_size: int = Field(128, gt=0)
    val_samples: int = Field(20, gt=0)
    augment: bool = False
    speed: SpeedSettings = SpeedSettings()

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


def train_sgmcmc(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune trainable: run the sampler, keep samples per the schedule, report validation metrics."""
    settings = SGMCMCSettings.from_config(config)
    seed = trial_seed(config)
    generator = seed_everything(seed)
    device = trial_device()
    data = context.load_data(device, train_on_device=settings.speed.train_data == "device")
    recipe = context.recipe(data)
    model = recipe.build().to(device)
    noise = torch.Generator(device=device).manual_seed(seed + 1)
    sampler = _sampler(model, settings, len(data.train.labels), noise)
    start, resumed = resume_loop(model, sampler, generator)
    size = sum(p.numel() for p in model.parameters())
    samples = resumed.get("samples", torch.empty(0, size, device=device))
    if resumed:
        noise.set_state(resumed["noise"])
    likelihood = recipe.output_model
    trained = for_training(model, settings.speed)
    for epoch in range(start, settings.epochs):
        sampler.set_phase(adapt_preconditioner=epoch < max(settings.burn_in, 1))
        augment = data.augment if settings.augment else None
        loss = train_epoch(
            trained,
            sampler,
            data.train.inputs,
            data.train.labels,
            settings.batch_size,
            generator,
            likelihood,
            augment,
            settings.speed,
        )
        if _keeps_sample(settings, epoch):
            samples = torch.cat([samples, weight_vector(model.parameters()).detach()[None]])
            samples = samples[-settings.max_samples :]
        metrics = {"epoch": epoch + 1, "train_loss": loss, "kept_samples": len(samples)}
        posterior = None
        if len(samples):
            evaluation_model = recipe.build().to(device)
            evaluation_model.load_state_dict(model.state_dict())
            posterior = SGMCMCPosterior(evaluation_model, recipe, samples, data.train.inputs)
            replay = torch.Generator(device=device).manual_seed(seed)
            outputs = posterior.predict(data.val.inputs, min(settings.val_samples, len(samples)), replay)
            metrics.update(likelihood.validation(outputs, data.val.labels))
            posterior = SGMCMCPosterior(evaluation_model, recipe, samples)
        state = loop_state(model, sampler, generator, epoch + 1, samples=samples, noise=noise.get_state())
        report(
            metrics, posterior, state, final=epoch + 1 == settings.epochs, every_s=settings.checkpoint_every_s
        )


METHOD = Method(
    name="sgmcmc",
    settings=SGMCMCSettings,
    trainable=train_sgmcmc,
    posterior=SGMCMCPosterior,
    checkpoint="last",
)
