"""Mean-field Gaussian VI (Bayes by backprop) as a Ray trainable; starts from MAP when the stage has ``from``.

Adam minimises N · E_q[mean NLL] + T · KL(q ‖ N(0, σ_p² I)) with one reparameterised weight sample
per minibatch; μ starts at the seed's selected MAP weights (or a fresh initialisation) and σ at
``initial_std``. ``predict`` draws weight vectors from q.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import nn
from torch.nn.utils import parameters_to_vector

from bdlsweep.trainables.inference.mean_field import MeanField, negative_elbo
from bdlsweep.trainables.method import Method, count_epoch_reports
from bdlsweep.trainables.posteriors.base import ModelRecipe
from bdlsweep.trainables.posteriors.single_network import FixedWeightsPosterior
from bdlsweep.trainables.posteriors.weight_distribution import WeightSamplingPosterior, load_sampling_network
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.training import batches
from bdlsweep.trainables.runtime.trial_loop import (
    IterativeFit,
    TrialStart,
    loop_state,
    restore_loop,
    run_fit,
    start_trial,
)
from bdlsweep.trainables.settings import MethodSettings


class VISettings(MethodSettings):
    """Hyper-parameters of mean-field VI; ``prior_variance`` and ``temperature`` are the tuned ones.

    ``estimator`` picks the ELBO gradient estimator: one weight draw per minibatch
    (reparameterisation) or flipout's per-example perturbations of linear and conv layers.
    """

    epochs: int = Field(30, gt=0)
    """Training epochs of the ELBO."""
    batch_size: int = Field(128, gt=0)
    """Minibatch size."""
    lr: float = Field(1e-3, gt=0)
    """Adam's learning rate."""
    initial_std: float = Field(1e-3, gt=0)
    """Initial standard deviation of every weight's Gaussian."""
    estimator: Literal["reparameterization", "flipout"] = "reparameterization"
    """ELBO gradient estimator: one weight draw per minibatch, or flipout."""
    prior_variance: float = Field(1.0, gt=0)
    """Variance of the Gaussian prior on every weight (tuned)."""
    temperature: float = Field(1.0, ge=0)
    """Weight of the KL term (1: the ELBO; below 1: a cold posterior)."""
    val_samples: int = Field(20, gt=0)
    """Weight samples per validation."""
    augment: bool = False
    """Apply the dataset's training augmentation."""


class MeanFieldPosterior(WeightSamplingPosterior):
    """q(θ) = N(μ, diag σ²) over one network's weights; every sample is a fresh weight draw."""

    method: ClassVar[str] = "vi"

    def __init__(
        self,
        model: nn.Module,
        recipe: ModelRecipe,
        mean: torch.Tensor,
        std: torch.Tensor,
        train_inputs: torch.Tensor | None = None,
    ) -> None:
        super().__init__(model, recipe, train_inputs)
        self.mean = mean
        self.std = std

    def weight_samples(self, num_samples: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        for _ in range(num_samples):
            noise = torch.randn(self.mean.shape, generator=generator, device=self.mean.device)
            yield self.mean + self.std * noise

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return (
            {"model": self.recipe.to_dict()},
            {"model_state": self.model.state_dict(), "mean": self.mean, "std": self.std},
        )

    @classmethod
    def from_state(
        cls,
        metadata: dict[str, Any],
        state: dict[str, Any],
        device: torch.device,
        train_inputs: torch.Tensor | None,
    ) -> MeanFieldPosterior:
        model, recipe, inputs = load_sampling_network(metadata, state, device, train_inputs)
        return cls(model, recipe, state["mean"].to(device), state["std"].to(device), inputs)


class VIFit(IterativeFit):
    """Epochs of Adam on the tempered negative ELBO; each validates q's weight samples."""

    def __init__(self, start: TrialStart, context: TrialContext) -> None:
        settings: VISettings = start.settings
        self.start, self.settings = start, settings
        self.data = context.load_data(start.device)
        if context.parents:
            parent = FixedWeightsPosterior.load(context.parent(start.seed), start.device)
            self.model, self.recipe = parent.model, parent.recipe
        else:
            self.recipe = context.recipe(self.data)
            self.model = self.recipe.build().to(start.device)
        weights = parameters_to_vector(self.model.parameters())
        self.q = MeanField(weights, settings.initial_std).to(start.device)
        self.optimizer = torch.optim.Adam(self.q.parameters(), lr=settings.lr)
        self.noise = torch.Generator(device=start.device).manual_seed(start.seed + 1)
        self.steps = settings.epochs

    def step(self, index: int) -> tuple[dict[str, Any], MeanFieldPosterior]:
        settings, data, device = self.settings, self.data, self.start.device
        likelihood, count = self.recipe.output_model, len(data.train.labels)
        priors = (settings.temperature, settings.prior_variance)
        flipout = settings.estimator == "flipout"
        self.model.train()
        total = torch.zeros((), device=device)
        generator = self.start.generator
        for inputs, labels in batches(data.train.inputs, data.train.labels, settings.batch_size, generator):
            if data.augment is not None and settings.augment:
                inputs = data.augment(inputs, generator)
            self.optimizer.zero_grad(set_to_none=True)
            loss = negative_elbo(
                self.model,
                self.q,
                inputs,
                labels,
                likelihood.loss,
                count,
                *priors,
                self.noise,
                flipout=flipout,
            )
            (loss / count).backward()
            self.optimizer.step()
            total += loss.detach() * len(labels) / count
        mean, std = self.q.mean.detach().clone(), self.q.std.detach().clone()
        posterior = MeanFieldPosterior(self.model, self.recipe, mean, std, data.train.inputs)
        replay = torch.Generator(device=device).manual_seed(self.start.seed)
        outputs = posterior.predict(data.val.inputs, settings.val_samples, replay)
        return {"negative_elbo": float(total), **likelihood.validation(outputs, data.val.labels)}, posterior

    def state_dict(self) -> dict[str, Any]:
        return loop_state(self.q, self.optimizer, self.start.generator, noise=self.noise.get_state())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        restore_loop(state, self.q, self.optimizer, self.start.generator)
        self.noise.set_state(state["noise"])


def train_vi(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune trainable: fit q by the tempered ELBO; report validation metrics of q's samples."""
    start = start_trial(config, VISettings)
    run_fit(VIFit(start, context), start, context)


METHOD = Method(
    name="vi",
    display_name="MFVI",
    hint="widen the prior-variance grid or lower the learning rate",
    settings=VISettings,
    steps=count_epoch_reports,
    trainable=train_vi,
    posterior=MeanFieldPosterior,
    checkpoint="last",
    parents=("map",),
    parent_optional=True,
    tiny={"epochs": 2, "batch_size": 256, "val_samples": 2},
    paper=(
        'Blundell, Cornebise, Kavukcuoglu & Wierstra (2015), "Weight Uncertainty in Neural Networks", '
        'ICML; flipout: Wen, Vicol, Ba, Tran & Grosse (2018), "Flipout: Efficient Pseudo-Independent '
        'Weight Perturbations on Mini-Batches", ICLR'
    ),
)
