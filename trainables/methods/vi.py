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
from bdlsweep.trainables.method import Method
from bdlsweep.trainables.methods.map import MAPPosterior
from bdlsweep.trainables.posteriors.base import ModelRecipe
from bdlsweep.trainables.posteriors.weight_distribution import WeightSamplingPosterior, load_sampling_network
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.reporting import loop_state, report, resume_loop, trial_seed
from bdlsweep.trainables.runtime.training import batches, seed_everything, trial_device
from bdlsweep.trainables.settings import MethodSettings


class VISettings(MethodSettings):
    """Hyper-parameters of mean-field VI; ``prior_variance`` and ``temperature`` are the tuned ones.

    ``estimator`` picks the ELBO gradient estimator: one weight draw per minibatch
    (reparameterisation) or flipout's per-example perturbations of linear and conv layers.
    """

    epochs: int = Field(30, gt=0)
    batch_size: int = Field(128, gt=0)
    lr: float = Field(1e-3, gt=0)
    initial_std: float = Field(1e-3, gt=0)
    estimator: Literal["reparameterization", "flipout"] = "reparameterization"
    prior_variance: float = Field(1.0, gt=0)
    temperature: float = Field(1.0, ge=0)
    val_samples: int = Field(20, gt=0)
    augment: bool = False


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


def train_vi(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune trainable: fit q by the tempered ELBO; report validation metrics of q's samples."""
    settings = VISettings.from_config(config)
    seed = trial_seed(config)
    generator = seed_everything(seed)
    device = trial_device()
    data = context.load_data(device)
    if context.parents:
        start = MAPPosterior.load(context.parent(seed), device)
        model, recipe = start.model, start.recipe
    else:
        recipe = context.recipe(data)
        model = recipe.build().to(device)
    q = MeanField(parameters_to_vector(model.parameters()), settings.initial_std).to(device)
    optimizer = torch.optim.Adam(q.parameters(), lr=settings.lr)
    noise = torch.Generator(device=device).manual_seed(seed + 1)
    first_epoch, resumed = resume_loop(q, optimizer, generator)
    if resumed:
        noise.set_state(resumed["noise"])
    likelihood, count = recipe.output_model, len(data.train.labels)
    priors = (settings.temperature, settings.prior_variance)
    flipout = settings.estimator == "flipout"
    for epoch in range(first_epoch, settings.epochs):
        model.train()
        total = torch.zeros((), device=device)
        for inputs, labels in batches(data.train.inputs, data.train.labels, settings.batch_size, generator):
            if data.augment is not None and settings.augment:
                inputs = data.augment(inputs, generator)
            optimizer.zero_grad(set_to_none=True)
            loss = negative_elbo(
                model, q, inputs, labels, likelihood.loss, count, *priors, noise, flipout=flipout
            )
            (loss / count).backward()
            optimizer.step()
            total += loss.detach() * len(labels) / count
        mean, std = q.mean.detach().clone(), q.std.detach().clone()
        posterior = MeanFieldPosterior(model, recipe, mean, std, data.train.inputs)
        replay = torch.Generator(device=device).manual_seed(seed)
        outputs = posterior.predict(data.val.inputs, settings.val_samples, replay)
        metrics = {"epoch": epoch + 1, "negative_elbo": float(total)}
        metrics.update(likelihood.validation(outputs, data.val.labels))
        state = loop_state(q, optimizer, generator, epoch + 1, noise=noise.get_state())
        report(
            metrics,
            MeanFieldPosterior(model, recipe, mean, std),
            state,
            final=epoch + 1 == settings.epochs,
            every_s=settings.checkpoint_every_s,
        )


METHOD = Method(
    name="vi",
    settings=VISettings,
    trainable=train_vi,
    posterior=MeanFieldPosterior,
    checkpoint="last",
    parents=("map",),
    parent_optional=True,
)
