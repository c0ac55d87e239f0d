"""Training a network from scratch as a Tune trial (MAP, MC dropout): epochs, resume, per-epoch reports."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from pydantic import Field
from torch import nn

from bdlsweep.trainables.data.label_noise import with_label_noise
from bdlsweep.trainables.inference.likelihoods import Likelihood
from bdlsweep.trainables.posteriors.base import ModelRecipe, Posterior
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.reporting import (
    SELECTION_METRIC,
    loop_state,
    report,
    resume_loop,
    trial_seed,
)
from bdlsweep.trainables.runtime.training import (
    build_optimizer,
    build_schedule,
    for_training,
    seed_everything,
    train_epoch,
    trial_device,
)
from bdlsweep.trainables.settings import MethodSettings, OptimizerSettings, ScheduleSettings, SpeedSettings


class NetworkSettings(MethodSettings):
    """Hyper-parameters of training a network by (regularised) maximum likelihood.

    ``augment`` applies the dataset's training augmentation where it has one (CIFAR: crop + flip).
    ``label_noise``: the share of training labels replaced by random classes (a fixed choice, the
    same for every seed) for the label-corruption study; ``fit_study`` also reports, at the last
    epoch, accuracy and ELPD on the (relabelled) training set and on the test set.
    """

    epochs: int = Field(30, gt=0)
    batch_size: int = Field(128, gt=0)
    optimizer: OptimizerSettings = OptimizerSettings(nesterov=True)
    schedule: ScheduleSettings = ScheduleSettings()
    val_samples: int = Field(1, gt=0)
    augment: bool = True
    speed: SpeedSettings = SpeedSettings()
    label_noise: float = Field(0.0, ge=0, le=1)
    fit_study: bool = False


def fit_network(
    config: dict[str, Any],
    context: TrialContext,
    settings: NetworkSettings,
    make_posterior: Callable[[nn.Module, ModelRecipe], Posterior],
    model_overrides: dict[str, Any] | None = None,
    model_name: str | None = None,
    training_loss: Callable[[Likelihood], Likelihood] | None = None,
) -> None:
    """Train the stage's model; each epoch report validation metrics of ``make_posterior(model)``.

    ``model_name`` replaces the sweep's architecture (a Packed-Ensemble of it) and ``training_loss``
    wraps the likelihood used for the training loss (one per estimator). Validation uses
    ``settings.val_samples`` posterior samples from a generator seeded per epoch; the checkpoint
    holds the posterior and the optimizer/schedule/data-order state for resuming.
    """
    seed = trial_seed(config)
    generator = seed_everything(seed)
    device = trial_device()
    data = context.load_data(device, train_on_device=settings.speed.train_data == "device")
    data = with_label_noise(data, settings.label_noise)
    recipe = context.recipe(data, model_overrides, model_name)
    loss_likelihood = recipe.output_model if training_loss is None else training_loss(recipe.output_model)
    model = recipe.build().to(device)
    optimizer = build_optimizer(model.parameters(), settings.optimizer)
    schedule = build_schedule(optimizer, settings.schedule, settings.epochs)
    start, resumed = resume_loop(model, optimizer, generator)
    if resumed:
        schedule.load_state_dict(resumed["schedule"])
    trained = for_training(model, settings.speed)
    best = -math.inf  # the best validation ELPD since this process started the trial: its checkpoint is kept
    for epoch in range(start, settings.epochs):
        loss = train_epoch(
            trained,
            optimizer,
            data.train.inputs,
            data.train.labels,
            settings.batch_size,
            generator,
            loss_likelihood,
            data.augment if settings.augment else None,
            settings.speed,
        )
        schedule.step()
        posterior = make_posterior(model, recipe)
        sampler = torch.Generator(device=device).manual_seed(seed)
        outputs = posterior.predict(data.val.inputs, settings.val_samples, sampler)
        state = loop_state(model, optimizer, generator, epoch + 1, schedule=schedule.state_dict())
        validation = recipe.output_model.validation(outputs, data.val.labels)
        if settings.fit_study and epoch + 1 == settings.epochs:
            for split, labelled in (("train", data.train), ("test", data.test)):
                fitted = posterior.predict(labelled.inputs.to(device), settings.val_samples, sampler)
                validation.update(recipe.output_model.validation(fitted, labelled.labels, prefix=split))
        improved = validation[SELECTION_METRIC] > best
        best = max(best, validation[SELECTION_METRIC])
        report(
            {"epoch": epoch + 1, "train_loss": loss, **validation},
            posterior,
            state,
            final=epoch + 1 == settings.epochs,
            every_s=settings.checkpoint_every_s,
            keep=improved,
        )
