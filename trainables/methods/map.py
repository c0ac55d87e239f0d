"""MAP training: SGD (momentum/Nesterov) or Adam with weight decay and a schedule, per-epoch reports."""

from __future__ import annotations

from typing import Any, ClassVar

from bdlsweep.trainables.method import Method
from bdlsweep.trainables.posteriors.single_network import FixedWeightsPosterior
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.network_fit import NetworkSettings, fit_network


class MAPSettings(NetworkSettings):
    """Hyper-parameters of MAP training (one network: ``val_samples`` has no effect)."""


class MAPPosterior(FixedWeightsPosterior):
    """The trained network itself."""

    method: ClassVar[str] = "map"


def train_map(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune trainable: train one network, report validation metrics and a checkpoint per epoch."""
    fit_network(config, context, MAPSettings.from_config(config), MAPPosterior)


METHOD = Method(
    name="map",
    settings=MAPSettings,
    trainable=train_map,
    posterior=MAPPosterior,
    checkpoint="best",
)
