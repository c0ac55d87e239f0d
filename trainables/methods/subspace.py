"""Subspace inference as a Ray trainable: a PCA or random subspace around each seed's SWAG solution,
inferred by elliptical slice sampling (ESS) or full-covariance VI, mapped back to full weights to predict.

The subspace is built from the seed's selected SWAG checkpoint (the stage's ``from``). The likelihood
is the full training set's (ESS: exact full-batch sums; VI: minibatch estimates), divided by
``likelihood_temperature`` as in the subspace paper; the prior is z ~ N(0, prior_std² I). While
inferring, batch norm keeps the SWA solution's statistics; ``predict`` updates them per sample.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field, model_validator
from torch import nn
from torch.func import functional_call

from bdlsweep.trainables.data.splits import DatasetSplits
from bdlsweep.trainables.inference.elliptical_slice import elliptical_slice_step
from bdlsweep.trainables.inference.likelihoods import Likelihood
from bdlsweep.trainables.inference.mean_field import as_parameters
from bdlsweep.trainables.inference.subspace_gaussian import SubspaceGaussian, negative_elbo
from bdlsweep.trainables.inference.subspace_log_density import full_batch_log_likelihood
from bdlsweep.trainables.inference.weight_subspaces import Subspace, pca_subspace, random_subspace
from bdlsweep.trainables.method import Method
from bdlsweep.trainables.methods.swag import SWAGPosterior
from bdlsweep.trainables.posteriors.base import ModelRecipe
from bdlsweep.trainables.posteriors.stored_samples import replay_order
from bdlsweep.trainables.posteriors.weight_distribution import WeightSamplingPosterior, load_sampling_network
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.reporting import loop_state, report, resume_loop, resume_state, trial_seed
from bdlsweep.trainables.runtime.training import (
    batches,
    load_weight_vector,
    seed_everything,
    trial_device,
)
from bdlsweep.trainables.settings import MethodSettings


class SubspaceSettings(MethodSettings):
    """Hyper-parameters of subspace inference; the defaults follow the paper's CIFAR ESS run (rank 5,
    prior_std 2). ``iterations``/``burn_in`` are ESS transitions; ``epochs``, ``lr`` and
    ``initial_std`` (of q's coordinates) belong to VI."""

    subspace: Literal["pca", "random"] = "pca"
    rank: int = Field(5, gt=0)
    inference: Literal["ess", "vi"] = "ess"
    prior_std: float = Field(2.0, gt=0)
    likelihood_temperature: float = Field(1.0, gt=0)
    iterations: int = Field(50, gt=0)
    burn_in: int = Field(10, ge=0)
    epochs: int = Field(10, gt=0)
    batch_size: int = Field(128, gt=0)
    lr: float = Field(1e-2, gt=0)
    initial_std: float = Field(0.1, gt=0)
    val_samples: int = Field(20, gt=0)

    @model_validator(mode="after")
    def _keeps_a_sample(self) -> SubspaceSettings:
        if self.inference == "ess" and self.burn_in >= self.iterations:
            raise ValueError(f"burn_in ({self.burn_in}) must be below iterations ({self.iterations})")
        return self


class SubspacePosterior(WeightSamplingPosterior):
    """Subspace coordinates mapped to weights: stored ESS samples ``[K, R]`` replayed, or draws from
    a Gaussian q(z) = N(mean, scale_tril scale_trilᵀ)."""

    method: ClassVar[str] = "subspace"

    def __init__(
        self,
        model: nn.Module,
        recipe: ModelRecipe,
        subspace: Subspace,
        coordinates: dict[str, torch.Tensor],
        train_inputs: torch.Tensor | None = None,
    ) -> None:
        if set(coordinates) not in ({"samples"}, {"mean", "scale_tril"}):
            raise ValueError("subspace coordinates are either 'samples' or 'mean' and 'scale_tril'")
        if "samples" in coordinates and len(coordinates["samples"]) == 0:
            raise ValueError("a subspace posterior needs at least one kept sample")
        super().__init__(model, recipe, train_inputs)
        self.subspace = subspace
        self.coordinates = coordinates

    def coordinate_samples(self, num_samples: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        """Subspace coordinates of ``num_samples`` draws."""
        if "samples" in self.coordinates:
            samples = self.coordinates["samples"]
            for index in replay_order(len(samples), num_samples, generator).tolist():
                yield samples[index]
            return
        mean, scale_tril = self.coordinates["mean"], self.coordinates["scale_tril"]
        for _ in range(num_samples):
            noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            yield mean + scale_tril @ noise

    def weight_samples(self, num_samples: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        for coordinates in self.coordinate_samples(num_samples, generator):
            yield self.subspace.weights(coordinates)

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return (
            {"model": self.recipe.to_dict(), "rank": self.subspace.rank},
            {
                "model_state": self.model.state_dict(),
                "subspace": self.subspace.state_dict(),
                "coordinates": self.coordinates,
            },
        )

    @classmethod
    def from_state(
        cls,
        metadata: dict[str, Any],
        state: dict[str, Any],
        device: torch.device,
        train_inputs: torch.Tensor | None,
    ) -> SubspacePosterior:
        model, recipe, inputs = load_sampling_network(metadata, state, device, train_inputs)
        subspace = Subspace.from_state_dict(state["subspace"], device)
        coordinates = {name: tensor.to(device) for name, tensor in state["coordinates"].items()}
        return cls(model, recipe, subspace, coordinates, inputs)


def build_subspace(settings: SubspaceSettings, swag: SWAGPosterior, seed: int) -> Subspace:
    """The configured subspace around the SWAG mean (random directions drawn from ``seed``)."""
    moments = swag.moments
    if settings.subspace == "pca":
        return pca_subspace(moments.mean, moments.deviations, settings.rank)
    generator = torch.Generator(device=moments.mean.device).manual_seed(seed)
    return random_subspace(moments.mean, settings.rank, generator)


def _validation(posterior: SubspacePosterior, data: DatasetSplits, count: int, seed: int) -> dict[str, float]:
    """Validation metrics of ``count`` posterior draws (the same draws for the same seed)."""
    replay = torch.Generator(device=posterior.subspace.shift.device).manual_seed(seed)
    outputs = posterior.predict(data.val.inputs, count, replay)
    return posterior.recipe.output_model.validation(outputs, data.val.labels)


def run_ess(
    settings: SubspaceSettings,
    posterior_for: Callable[[dict[str, torch.Tensor]], SubspacePosterior],
    log_likelihood_fn: Callable[[torch.Tensor], float],
    data: DatasetSplits,
    seed: int,
) -> None:
    """ESS in the subspace from z = 0 (the SWA solution); one report per transition."""
    device = data.train.labels.device
    generator = torch.Generator(device=device).manual_seed(seed)
    position = torch.zeros(settings.rank, device=device)
    samples = torch.empty(0, settings.rank, device=device)
    start = 0
    resumed = resume_state()
    if resumed is not None:
        position, samples = resumed["position"].to(device), resumed["samples"].to(device)
        start = resumed["iteration"]
        generator.set_state(resumed["generator"])
    temperature = settings.likelihood_temperature

    def tempered(coordinates: torch.Tensor) -> float:
        return log_likelihood_fn(coordinates) / temperature

    current = tempered(position)
    for iteration in range(start, settings.iterations):
        step = elliptical_slice_step(position, current, tempered, settings.prior_std, generator)
        position, current = step.position, step.log_likelihood
        if iteration >= settings.burn_in:
            samples = torch.cat([samples, position[None]])
        metrics = {
            "epoch": iteration + 1,
            "train_log_likelihood": current * temperature,
            "likelihood_evaluations": step.evaluations,
            "kept_samples": len(samples),
        }
        posterior = None
        if len(samples):
            posterior = posterior_for({"samples": samples.clone()})
            metrics.update(_validation(posterior, data, min(settings.val_samples, len(samples)), seed))
        state = {
            "position": position,
            "samples": samples,
            "iteration": iteration + 1,
            "generator": generator.get_state(),
        }
        report(
            metrics,
            posterior,
            state,
            final=iteration + 1 == settings.iterations,
            every_s=settings.checkpoint_every_s,
        )


def run_vi(
    settings: SubspaceSettings,
    model: nn.Module,
    subspace: Subspace,
    likelihood: Likelihood,
    posterior_for: Callable[[dict[str, torch.Tensor]], SubspacePosterior],
    data: DatasetSplits,
    seed: int,
) -> None:
    """Full-covariance Gaussian VI in the subspace (Adam on minibatch ELBOs); one report per epoch."""
    device = data.train.labels.device
    generator = torch.Generator(device=device).manual_seed(seed)
    noise = torch.Generator(device=device).manual_seed(seed + 1)
    q = SubspaceGaussian(settings.rank, settings.initial_std).to(device)
    optimizer = torch.optim.Adam(q.parameters(), lr=settings.lr)
    first_epoch, resumed = resume_loop(q, optimizer, generator)
    if resumed:
        noise.set_state(resumed["noise"])
    count = len(data.train.labels)
    for epoch in range(first_epoch, settings.epochs):
        total = torch.zeros((), device=device)
        for inputs, labels in batches(data.train.inputs, data.train.labels, settings.batch_size, generator):

            def log_likelihood(coordinates: torch.Tensor, inputs=inputs, labels=labels) -> torch.Tensor:
                weights = as_parameters(model, subspace.weights(coordinates))
                return -likelihood.loss(functional_call(model, weights, (inputs,)), labels) * count

            optimizer.zero_grad(set_to_none=True)
            loss = negative_elbo(
                q, log_likelihood, settings.prior_std, settings.likelihood_temperature, noise
            )
            (loss / count).backward()
            optimizer.step()
            total += loss.detach() * len(labels) / count
        coordinates = {"mean": q.mean.detach().clone(), "scale_tril": q.scale_tril.detach().clone()}
        posterior = posterior_for(coordinates)
        metrics = {"epoch": epoch + 1, "negative_elbo": float(total)}
        metrics.update(_validation(posterior, data, settings.val_samples, seed))
        state = loop_state(q, optimizer, generator, epoch + 1, noise=noise.get_state())
        report(
            metrics, posterior, state, final=epoch + 1 == settings.epochs, every_s=settings.checkpoint_every_s
        )


def train_subspace(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune trainable: subspace around the seed's SWAG solution, then ESS or VI inside it."""
    settings = SubspaceSettings.from_config(config)
    seed = trial_seed(config)
    seed_everything(seed)
    device = trial_device()
    data = context.load_data(device)
    swag = SWAGPosterior.load(context.parent(seed), device, data.train.inputs)
    model, recipe = swag.model, swag.recipe
    subspace = build_subspace(settings, swag, seed)
    load_weight_vector(model, subspace.shift, data.train.inputs)
    model.eval()
    evaluation_model = copy.deepcopy(model)

    def posterior_for(coordinates: dict[str, torch.Tensor]) -> SubspacePosterior:
        return SubspacePosterior(evaluation_model, recipe, subspace, coordinates, data.train.inputs)

    if settings.inference == "ess":
        train, likelihood = data.train, recipe.output_model
        log_likelihood = full_batch_log_likelihood(model, subspace, train.inputs, train.labels, likelihood)
        run_ess(settings, posterior_for, log_likelihood, data, seed)
    else:
        run_vi(settings, model, subspace, recipe.output_model, posterior_for, data, seed)


METHOD = Method(
    name="subspace",
    settings=SubspaceSettings,
    trainable=train_subspace,
    posterior=SubspacePosterior,
    checkpoint="last",
    parents=("swag",),
)
