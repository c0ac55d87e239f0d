"""MC dropout: a network trained with dropout, which stays on at prediction; each pass is a sample."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from pydantic import Field
from torch import nn

from bdlsweep.trainables.inference.network_weights import EVAL_BATCH_SIZE
from bdlsweep.trainables.method import Method, count_epoch_reports
from bdlsweep.trainables.posteriors.base import ModelRecipe, NetworkPosterior
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.network_fit import NetworkSettings, fit_network
from bdlsweep.trainables.runtime.trial_loop import start_trial


class MCDropoutSettings(NetworkSettings):
    """MAP settings plus the dropout rate (set on the model's dropout layers), the tuned value."""

    dropout: float = Field(0.1, gt=0, lt=1)
    """Dropout rate of the model's dropout layers, kept on at prediction (the tuned value)."""
    val_samples: int = Field(30, gt=0)
    """Dropout masks per validation."""


def _dropout_on(model: nn.Module) -> None:
    """Eval mode (batch norm uses running statistics) with every dropout layer sampling."""
    model.eval()
    for module in model.modules():
        if isinstance(module, nn.modules.dropout._DropoutNd):
            module.train()


class MCDropoutPosterior(NetworkPosterior):
    """One network whose dropout masks are the posterior samples."""

    method: ClassVar[str] = "mc_dropout"

    def __init__(self, model: nn.Module, recipe: ModelRecipe) -> None:
        if not any(isinstance(m, nn.modules.dropout._DropoutNd) for m in model.modules()):
            raise ValueError(f"model {recipe.name!r} has no dropout layer: set its dropout option")
        super().__init__(model, recipe)

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        """Each sample is one forward pass with fresh masks drawn from ``generator``'s seed."""
        seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
        _dropout_on(self.model)
        samples = []
        with torch.random.fork_rng(devices=[inputs.device] if inputs.is_cuda else []):
            torch.manual_seed(seed)
            for _ in range(num_samples):
                chunks = [
                    self.recipe.output_model.predictive(self.model(inputs[start : start + EVAL_BATCH_SIZE]))
                    for start in range(0, len(inputs), EVAL_BATCH_SIZE)
                ]
                samples.append(torch.cat(chunks))
        self.model.eval()
        return torch.stack(samples)


def train_mc_dropout(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune trainable: train with the trial's dropout rate; validate with MC dropout samples."""
    start = start_trial(config, MCDropoutSettings)
    fit_network(start, context, MCDropoutPosterior, {"dropout": start.settings.dropout})


METHOD = Method(
    name="mc_dropout",
    display_name="MC dropout",
    settings=MCDropoutSettings,
    steps=count_epoch_reports,
    trainable=train_mc_dropout,
    posterior=MCDropoutPosterior,
    checkpoint="best",
    tiny={"epochs": 2, "batch_size": 256, "val_samples": 3},
    paper=(
        'Gal & Ghahramani (2016), "Dropout as a Bayesian Approximation: Representing Model Uncertainty in'
        ' Deep Learning", ICML'
    ),
)
