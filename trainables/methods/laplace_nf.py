"""LA-NF (posterior-refined LLLA): a normalizing flow on the last layer, based on the LLLA Gaussian.

Starting from a seed's selected LLLA, the head weights' posterior is a flow (nflows transforms)
whose base distribution is the LLLA Gaussian; the flow is trained by maximising the ELBO
(expected log-likelihood on cached training features + log prior − log q), one Monte Carlo sample
per batch, Adam with per-batch cosine annealing (Jordahn et al. 2025: 20 epochs, lr 1e-3). The flow
trains in the shared trial loop (``run_fit``): a report and validation per epoch, checkpoints with
the flow's optimizer state, and a resumed trial continues from its last one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from bdlsweep.trainables.inference.flows import FlowKind, GaussianBaseMap, GaussianFlow
from bdlsweep.trainables.inference.likelihoods import LIKELIHOODS
from bdlsweep.trainables.method import Method, TrainingPasses, count_epoch_passes
from bdlsweep.trainables.posteriors.checkpoint import read_checkpoint, read_metadata, write_checkpoint
from bdlsweep.trainables.posteriors.head_laplace import LLLAPosterior, laplace_gaussian
from bdlsweep.trainables.posteriors.last_layer import (
    LastLayerPosterior,
    RegressionHead,
    backbone_features,
    head_model,
)
from bdlsweep.trainables.posteriors.single_network import FixedWeightsPosterior
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.training import batches, trial_device
from bdlsweep.trainables.runtime.trial_loop import IterativeFit, TrialStart, run_fit, start_trial
from bdlsweep.trainables.settings import MethodSettings

LogLikelihood = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class LANFSettings(MethodSettings):
    """Hyper-parameters of LA-NF; the papers tune ``num_transforms`` and ``prior_precision``."""

    flow: FlowKind = "radial"
    """The flow's transform: radial, planar, or nflows' MAF or rational-quadratic spline."""
    num_transforms: int = Field(10, ge=0)
    """Number of flow layers (0: the LLLA Gaussian itself)."""
    prior_precision: float = Field(1.0, gt=0)
    """Precision of the Gaussian prior on the head weights in the ELBO."""
    base: Literal["full", "diag"] = "full"
    """The flow's base distribution: LLLA's full Gaussian, or its diagonal."""
    epochs: int = Field(20, gt=0)
    """Epochs of ELBO training over the cached training features."""
    lr: float = Field(1e-3, gt=0)
    """Adam's initial learning rate (cosine-annealed per batch)."""
    batch_size: int = Field(128, gt=0)
    """Minibatch size of the ELBO."""
    hidden_features: int = Field(32, gt=0)
    """Hidden width of MAF and spline transforms."""
    val_samples: int = Field(100, gt=0)
    """Flow samples per validation."""


def gaussian_log_prior(weights: torch.Tensor, precision: float) -> torch.Tensor:
    """log N(θ; 0, I/precision) for each row of ``weights`` ``[S, D]``."""
    dim = weights.shape[-1]
    return -0.5 * precision * (weights**2).sum(-1) + 0.5 * dim * math.log(precision / (2 * math.pi))


class ELBOTrainer:
    """Maximises the ELBO of ``flow`` with one sample per batch, an epoch at a time: Adam with cosine
    annealing stepped per batch over ``epochs`` epochs of ``steps_per_epoch`` batches.

    ``log_likelihood(θ [S, D], inputs, labels)`` sums the batch's log-likelihoods per sample; it is
    scaled by ``num_data / batch size``.
    """

    def __init__(
        self,
        flow: GaussianFlow,
        log_likelihood: LogLikelihood,
        num_data: int,
        prior_precision: float,
        epochs: int,
        steps_per_epoch: int,
        lr: float,
    ) -> None:
        self.flow = flow
        self.log_likelihood = log_likelihood
        self.num_data = num_data
        self.prior_precision = prior_precision
        self.optimizer = torch.optim.Adam(flow.parameters(), lr=lr)
        self.schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=epochs * steps_per_epoch
        )

    def epoch(self, data: Iterable[tuple[torch.Tensor, torch.Tensor]], generator: torch.Generator) -> float:
        """One pass over ``data``; the mean −ELBO over its batches."""
        total, count = 0.0, 0
        for inputs, labels in data:
            weights, log_q = self.flow.sample(1, generator)
            scale = self.num_data / len(labels)
            elbo = scale * self.log_likelihood(weights, inputs, labels)
            elbo = elbo + gaussian_log_prior(weights, self.prior_precision) - log_q
            loss = -elbo.mean()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.schedule.step()
            total, count = total + float(loss.detach()), count + 1
        return total / count

    def state_dict(self) -> dict[str, Any]:
        """The flow's layers, Adam's moments and the schedule's position."""
        return {
            "flow": self.flow.state_dict(),
            "flow_optimizer": self.optimizer.state_dict(),
            "flow_schedule": self.schedule.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a ``state_dict``."""
        self.flow.load_state_dict(state["flow"])
        self.optimizer.load_state_dict(state["flow_optimizer"])
        self.schedule.load_state_dict(state["flow_schedule"])


def fit_elbo(
    flow: GaussianFlow,
    log_likelihood: LogLikelihood,
    data: Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]],
    num_data: int,
    prior_precision: float,
    epochs: int,
    lr: float,
    generator: torch.Generator,
) -> list[float]:
    """Maximise the ELBO of ``flow`` for ``epochs`` passes over ``data()``; the mean −ELBO per epoch."""
    trainer = ELBOTrainer(flow, log_likelihood, num_data, prior_precision, epochs, sum(1 for _ in data()), lr)
    return [trainer.epoch(data(), generator) for _ in range(epochs)]


class LANFPosterior(LastLayerPosterior):
    """Flow posterior over the last layer: head samples are the flow's."""

    method: ClassVar[str] = "laplace_nf"

    def __init__(
        self,
        model: nn.Module,
        flow: GaussianFlow,
        settings: LANFSettings,
        base: str,
        prepared: str,
        likelihood: str = "classification",
        regression_head: RegressionHead = "means",
    ) -> None:
        super().__init__(model, base, prepared, likelihood, regression_head)
        self.flow = flow
        self.settings = settings

    def sample_heads(self, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        """The flow's samples (its log-densities are for training, not prediction)."""
        return self.flow.sample(num_samples, generator)[0]

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        layers = {name: value.detach() for name, value in self.flow.named_parameters()}
        metadata = {**self.family_state(), "settings": self.settings.model_dump()}
        return metadata, {"layers": layers}

    @classmethod
    def from_state(
        cls,
        metadata: dict[str, Any],
        state: dict[str, Any],
        device: torch.device,
        train_inputs: torch.Tensor | None,
    ) -> LANFPosterior:
        settings = LANFSettings.model_validate(metadata["settings"])
        prepared = read_checkpoint(metadata["prepared"], map_location=device)[1]
        flow = _flow(settings, prepared).to(device)
        missing = flow.load_state_dict(state["layers"], strict=False)
        if missing.unexpected_keys or set(missing.missing_keys) & set(dict(flow.named_parameters())):
            raise ValueError(f"{metadata['prepared']}: flow layers do not match the checkpoint")
        model = FixedWeightsPosterior.load(metadata["base"], device).model
        prepared_metadata = read_metadata(metadata["prepared"])
        return cls(
            model,
            flow,
            settings,
            metadata["base"],
            metadata["prepared"],
            prepared_metadata["likelihood"],
            prepared_metadata.get("regression_head", "means"),  # folders prepared before it was a choice
        )


def _flow(settings: LANFSettings, prepared: dict[str, Any]) -> GaussianFlow:
    scale = prepared["scale_tril"]
    if settings.base == "diag":
        scale = scale.pow(2).sum(1).sqrt()
    base = GaussianBaseMap(prepared["mean"], scale)
    return GaussianFlow(settings.flow, settings.num_transforms, base, settings.hidden_features)


def prepare_laplace_nf(context: TrialContext, settings: LANFSettings, seed: int, folder: str) -> None:
    """Once per seed: the selected LLLA's Gaussian and the cached train/val backbone features."""
    device = trial_device()
    llla = LLLAPosterior.load(context.parent(seed), device)
    data = context.load_data(device)
    means, scales = zip(*(laplace_gaussian(laplace) for laplace in llla.laplaces), strict=True)
    mean, scale_tril = torch.cat(means), torch.block_diag(*scales)
    write_checkpoint(
        folder,
        {
            "base": llla.base,
            "llla": str(context.parent(seed)),
            "likelihood": llla.likelihood,
            "regression_head": llla.regression_head,
            "seed": seed,
        },
        {
            "mean": mean.detach(),
            "scale_tril": scale_tril.detach(),
            "train_features": backbone_features(llla.model, data.train.inputs),
            "val_features": backbone_features(llla.model, data.val.inputs),
        },
        references=("base", "llla"),
    )


class LANFFit(IterativeFit):
    """The flow trained an epoch at a time on the seed's cached training features, validated by
    sampling heads over its cached validation features after every epoch."""

    def __init__(self, start: TrialStart, context: TrialContext) -> None:
        settings: LANFSettings = start.settings
        self.settings, self.seed, self.device = settings, start.seed, start.device
        self.folder = context.prepared[start.seed]
        self.metadata, prepared = read_checkpoint(self.folder, map_location=start.device)
        self.data = context.load_data(start.device)
        self.model = FixedWeightsPosterior.load(self.metadata["base"], start.device).model
        self.flow = _flow(settings, prepared).to(start.device)
        self.features, self.val_features = prepared["train_features"], prepared["val_features"]
        self.regression_head = self.metadata.get("regression_head", "means")
        head = head_model(self.model, self.metadata["likelihood"], self.regression_head)
        self.sampling = torch.Generator(device=start.device).manual_seed(start.seed)
        self.order = start.generator
        self.steps = settings.epochs
        steps_per_epoch = math.ceil(len(self.data.train.labels) / settings.batch_size)
        self.trainer = ELBOTrainer(
            self.flow,
            head.log_likelihood,
            len(self.data.train.labels),
            settings.prior_precision,
            settings.epochs,
            steps_per_epoch,
            settings.lr,
        )

    def step(self, index: int) -> tuple[dict[str, Any], LANFPosterior]:
        labels = self.data.train.labels
        neg_elbo = self.trainer.epoch(
            batches(self.features, labels, self.settings.batch_size, self.order), self.sampling
        )
        posterior = LANFPosterior(
            self.model,
            self.flow,
            self.settings,
            self.metadata["base"],
            self.folder,
            self.metadata["likelihood"],
            self.regression_head,
        )
        validation = torch.Generator(device=self.device).manual_seed(self.seed)
        outputs = posterior.predict_from_features(self.val_features, self.settings.val_samples, validation)
        metrics = LIKELIHOODS[self.data.likelihood].validation(outputs, self.data.val.labels)
        return {"neg_elbo": neg_elbo, **metrics}, posterior

    def state_dict(self) -> dict[str, Any]:
        return {
            **self.trainer.state_dict(),
            "sampling": self.sampling.get_state(),
            "generator": self.order.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.trainer.load_state_dict(state)
        self.sampling.set_state(state["sampling"])
        self.order.set_state(state["generator"])


def train_laplace_nf(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune trainable: fit the flow for one (layer count, prior precision), reporting every epoch."""
    start = start_trial(config, LANFSettings)
    run_fit(LANFFit(start, context), start, context)


METHOD = Method(
    name="laplace_nf",
    display_name="LA-NF",
    hint="widen the prior-precision grid or lower the flow's learning rate",
    settings=LANFSettings,
    trainable=train_laplace_nf,
    posterior=LANFPosterior,
    checkpoint="last",
    prepare=prepare_laplace_nf,
    passes=TrainingPasses(
        count_epoch_passes,
        per_seed=1.0,
        rule="one pass per seed (features); epochs over the cached last-layer features",
    ),
    parents=("llla",),
    tiny={"num_transforms": 1, "epochs": 2, "val_samples": 3},
    paper=(
        'Jordahn, Jensen, Schmidt & Andersen (2025), "On Local Posterior Structure in Deep Ensembles", '
        "AISTATS"
    ),
)
