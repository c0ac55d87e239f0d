"""Training a network from scratch as a Tune trial (MAP, MC dropout, Packed-Ensembles), reports per epoch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from pydantic import Field
from torch import nn

from bdlsweep.trainables.data.label_noise import with_label_noise
from bdlsweep.trainables.inference.likelihoods import Likelihood
from bdlsweep.trainables.posteriors.base import ModelRecipe, Posterior
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.optimization import build_optimizer, build_schedule
from bdlsweep.trainables.runtime.training import for_training, train_epoch
from bdlsweep.trainables.runtime.trial_loop import IterativeFit, TrialStart, loop_state, restore_loop, run_fit
from bdlsweep.trainables.settings import MethodSettings, OptimizerSettings, ScheduleSettings, SpeedSettings


class NetworkSettings(MethodSettings):
    """Hyper-parameters of training a network by (regularised) maximum likelihood.

    ``augment`` applies the dataset's training augmentation where it has one (CIFAR: crop + flip).
    ``label_noise``: the share of training labels replaced by random classes (a fixed choice, the
    same for every seed) for the label-corruption study; ``fit_study`` also reports, at the last
    epoch, accuracy and ELPD on the (relabelled) training set and on the test set.
    """

    epochs: int = Field(30, gt=0)
    """Training epochs."""
    batch_size: int = Field(128, gt=0)
    """Minibatch size."""
    optimizer: OptimizerSettings = OptimizerSettings(nesterov=True)
    """The optimizer (see its keys)."""
    schedule: ScheduleSettings = ScheduleSettings()
    """The learning-rate schedule (see its keys)."""
    val_samples: int = Field(1, gt=0)
    """Posterior samples per validation (1 for a deterministic network)."""
    augment: bool = True
    """Apply the dataset's training augmentation where it has one (CIFAR: crop and flip)."""
    speed: SpeedSettings = SpeedSettings()
    """Precision, memory layout and compilation of the training loop (see its keys)."""
    label_noise: float = Field(0.0, ge=0, le=1)
    """Share of training labels replaced by random classes (the same for every seed), for the label-corruption
    study."""
    fit_study: bool = False
    """Also report accuracy and ELPD on the (relabelled) training set and the test set at the last epoch."""


class NetworkFit(IterativeFit):
    """Epochs of minibatch training; after each, validation by ``make_posterior(model)``'s samples.

    The trial's result is its best epoch (``keep_best``). Validation uses ``val_samples`` posterior
    samples from a generator seeded the same every epoch.
    """

    keep_best = True

    def __init__(
        self,
        start: TrialStart,
        context: TrialContext,
        make_posterior: Callable[[nn.Module, ModelRecipe], Posterior],
        model_overrides: dict[str, Any] | None,
        model_name: str | None,
        training_loss: Callable[[Likelihood], Likelihood] | None,
    ) -> None:
        settings: NetworkSettings = start.settings
        self.start, self.settings, self.make_posterior = start, settings, make_posterior
        data = context.load_data(start.device, train_on_device=settings.speed.train_data == "device")
        self.data = with_label_noise(data, settings.label_noise)
        self.recipe = context.recipe(self.data, model_overrides, model_name)
        likelihood = self.recipe.output_model
        self.loss_likelihood = likelihood if training_loss is None else training_loss(likelihood)
        self.model = self.recipe.build().to(start.device)
        self.optimizer = build_optimizer(self.model.parameters(), settings.optimizer)
        self.schedule = build_schedule(self.optimizer, settings.schedule, settings.epochs)
        self.trained = for_training(self.model, settings.speed)
        self.steps = settings.epochs

    def step(self, index: int) -> tuple[dict[str, Any], Posterior]:
        settings, data, device = self.settings, self.data, self.start.device
        loss = train_epoch(
            self.trained,
            self.optimizer,
            data.train.inputs,
            data.train.labels,
            settings.batch_size,
            self.start.generator,
            self.loss_likelihood,
            data.augment if settings.augment else None,
            settings.speed,
        )
        self.schedule.step()
        posterior = self.make_posterior(self.model, self.recipe)
        sampler = torch.Generator(device=device).manual_seed(self.start.seed)
        outputs = posterior.predict(data.val.inputs, settings.val_samples, sampler)
        metrics = {"train_loss": loss, **self.recipe.output_model.validation(outputs, data.val.labels)}
        if settings.fit_study and index + 1 == settings.epochs:
            for split, labelled in (("train", data.train), ("test", data.test)):
                fitted = posterior.predict(labelled.inputs.to(device), settings.val_samples, sampler)
                metrics.update(self.recipe.output_model.validation(fitted, labelled.labels, prefix=split))
        return metrics, posterior

    def state_dict(self) -> dict[str, Any]:
        return loop_state(
            self.model, self.optimizer, self.start.generator, schedule=self.schedule.state_dict()
        )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        restore_loop(state, self.model, self.optimizer, self.start.generator)
        self.schedule.load_state_dict(state["schedule"])


def fit_network(
    start: TrialStart,
    context: TrialContext,
    make_posterior: Callable[[nn.Module, ModelRecipe], Posterior],
    model_overrides: dict[str, Any] | None = None,
    model_name: str | None = None,
    training_loss: Callable[[Likelihood], Likelihood] | None = None,
) -> None:
    """Train the stage's model in the shared trial loop, validating ``make_posterior(model)`` each epoch.

    ``model_name`` replaces the sweep's architecture (a Packed-Ensemble of it) and ``training_loss``
    wraps the likelihood used for the training loss (one per estimator).
    """
    fit = NetworkFit(start, context, make_posterior, model_overrides, model_name, training_loss)
    run_fit(fit, start, context)
