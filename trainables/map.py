"""MAP training: SGD (momentum/Nesterov) or Adam with weight decay and a schedule, per-epoch reports."""

from __future__ import annotations

from typing import Any, ClassVar

from bdlsweep.trainables.context import TrialContext
from bdlsweep.trainables.fixed_weights import FixedWeightsPosterior
from bdlsweep.trainables.method import Method
from bdlsweep.trainables.reporting import report, resume_state, trial_seed
from bdlsweep.trainables.settings import MethodSettings, OptimizerSettings, ScheduleSettings
from bdlsweep.trainables.training import (
    build_optimizer,
    build_schedule,
    log_probs,
    seed_everything,
    train_epoch,
    trial_device,
    validation_metrics,
)
from pydantic import Field


class MAPSettings(MethodSettings):
    """Hyper-parameters of MAP training."""

    epochs: int = Field(30, gt=0)
    batch_size: int = Field(128, gt=0)
    optimizer: OptimizerSettings = OptimizerSettings(nesterov=True)
    schedule: ScheduleSettings = ScheduleSettings()


class MAPPosterior(FixedWeightsPosterior):
    """The trained network itself."""

    method: ClassVar[str] = "map"


def train_map(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune trainable: train one network, report validation metrics and a checkpoint per epoch."""
    settings = MAPSettings.from_config(config)
    generator = seed_everything(trial_seed(config))
    device = trial_device()
    data = context.load_data(device)
    recipe = context.recipe(data)
    model = recipe.build().to(device)
    optimizer = build_optimizer(model.parameters(), settings.optimizer)
    schedule = build_schedule(optimizer, settings.schedule, settings.epochs)
    start = 0
    resumed = resume_state()
    if resumed is not None:
        model.load_state_dict(resumed["model"])
        optimizer.load_state_dict(resumed["optimizer"])
        schedule.load_state_dict(resumed["schedule"])
        generator.set_state(resumed["generator"])
        start = int(resumed["epoch"])
    for epoch in range(start, settings.epochs):
        loss = train_epoch(
            model, optimizer, data.train.inputs, data.train.labels, settings.batch_size, generator
        )
        schedule.step()
        metrics = validation_metrics(log_probs(model, data.val.inputs)[None], data.val.labels)
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "generator": generator.get_state(),
            "epoch": epoch + 1,
        }
        report(
            {"epoch": epoch + 1, "train_loss": loss, **metrics},
            MAPPosterior(model, recipe),
            state,
            final=epoch + 1 == settings.epochs,
        )


METHOD = Method(
    name="map",
    settings=MAPSettings,
    trainable=train_map,
    posterior=MAPPosterior,
    checkpoint="best",
)
