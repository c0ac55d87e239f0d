"""MAP training: SGD (momentum/Nesterov) or Adam with weight decay and a schedule, per-epoch reports."""

from __future__ import annotations

from typing import Any, ClassVar

from bdlsweep.trainables.method import Method, count_epoch_reports
from bdlsweep.trainables.posteriors.single_network import FixedWeightsPosterior
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.network_fit import NetworkSettings, fit_network
from bdlsweep.trainables.runtime.trial_loop import start_trial


class MAPSettings(NetworkSettings):
    """Hyper-parameters of MAP training (one network: ``val_samples`` has no effect)."""


class MAPPosterior(FixedWeightsPosterior):
    """The trained network itself."""

    method: ClassVar[str] = "map"


def train_map(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune trainable: train one network, report validation metrics and a checkpoint per epoch."""
    fit_network(start_trial(config, MAPSettings), context, MAPPosterior)


METHOD = Method(
    name="map",
    display_name="MAP",
    ensemble_name="DE",
    settings=MAPSettings,
    steps=count_epoch_reports,
    trainable=train_map,
    posterior=MAPPosterior,
    checkpoint="best",
    tiny={"epochs": 2, "batch_size": 256},
    paper=(
        'Lakshminarayanan, Pritzel & Blundell (2017), "Simple and Scalable Predictive Uncertainty '
        'Estimation using Deep Ensembles", NeurIPS (its ensembles)'
    ),
)
