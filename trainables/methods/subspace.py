"""Subspace inference as a Ray trainable: a PCA or random subspace around each seed's SWAG solution,
inferred by elliptical slice sampling (ESS) or full-covariance VI, mapped back to full weights to predict.

The subspace is built from the seed's selected SWAG checkpoint (the stage's ``from``). The likelihood
is the full training set's (ESS: exact full-batch sums; VI: minibatch estimates), divided by
``likelihood_temperature`` as in the subspace paper; the prior is z ~ N(0, prior_std² I). While
inferring, batch norm keeps the SWA solution's statistics; ``predict`` updates them per sample.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field, model_validator
from torch import nn
from torch.func import functional_call

from bdlsweep.trainables.inference.elliptical_slice import elliptical_slice_step
from bdlsweep.trainables.inference.mean_field import as_parameters
from bdlsweep.trainables.inference.network_weights import load_weight_vector
from bdlsweep.trainables.inference.subspace_gaussian import SubspaceGaussian, negative_elbo
from bdlsweep.trainables.inference.subspace_log_density import full_batch_log_likelihood
from bdlsweep.trainables.inference.weight_subspaces import Subspace, pca_subspace, random_subspace
from bdlsweep.trainables.method import Method, TrainingPasses
from bdlsweep.trainables.posteriors.base import ModelRecipe
from bdlsweep.trainables.posteriors.stored_samples import replay_order
from bdlsweep.trainables.posteriors.swag_gaussian import SWAGPosterior
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


class SubspaceSettings(MethodSettings):
    """Hyper-parameters of subspace inference; the defaults follow the paper's CIFAR ESS run (rank 5,
    prior_std 2). ``iterations``/``burn_in`` are ESS transitions; ``epochs``, ``lr`` and
    ``initial_std`` (of q's coordinates) belong to VI."""

    subspace: Literal["pca", "random"] = "pca"
    """Subspace spanned by SWAG's deviations (pca) or random directions."""
    rank: int = Field(5, gt=0)
    """Dimension of the subspace."""
    inference: Literal["ess", "vi"] = "ess"
    """Inference in the subspace: elliptical slice sampling (ess) or VI."""
    prior_std: float = Field(2.0, gt=0)
    """Standard deviation of the Gaussian prior on the subspace coordinates."""
    likelihood_temperature: float = Field(1.0, gt=0)
    """Temperature dividing the log-likelihood."""
    iterations: int = Field(50, gt=0)
    """ESS: transitions of the chain."""
    burn_in: int = Field(10, ge=0)
    """ESS: transitions discarded at the start."""
    epochs: int = Field(10, gt=0)
    """VI: training epochs."""
    batch_size: int = Field(128, gt=0)
    """VI: minibatch size."""
    lr: float = Field(1e-2, gt=0)
    """VI: Adam's learning rate."""
    initial_std: float = Field(0.1, gt=0)
    """VI: initial standard deviation of the coordinates' Gaussian."""
    val_samples: int = Field(20, gt=0)
    """Samples per validation."""

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


class _SubspaceFit(IterativeFit):
    """What both inferences share: the seed's SWAG run, the subspace around its SWA solution, and the
    network (at the SWA weights, batch norm updated) that subspace coordinates are mapped into."""

    def __init__(self, start: TrialStart, context: TrialContext) -> None:
        settings: SubspaceSettings = start.settings
        self.start, self.settings = start, settings
        self.data = context.load_data(start.device)
        swag = SWAGPosterior.load(context.parent(start.seed), start.device, self.data.train.inputs)
        self.model, self.recipe = swag.model, swag.recipe
        self.subspace = build_subspace(settings, swag, start.seed)
        load_weight_vector(self.model, self.subspace.shift, self.data.train.inputs)
        self.model.eval()
        self.evaluation_model = copy.deepcopy(self.model)

    def _posterior(self, coordinates: dict[str, torch.Tensor], count: int) -> tuple[dict, SubspacePosterior]:
        """The posterior at ``coordinates`` and the validation metrics of ``count`` of its draws."""
        posterior = SubspacePosterior(
            self.evaluation_model, self.recipe, self.subspace, coordinates, self.data.train.inputs
        )
        replay = torch.Generator(device=self.start.device).manual_seed(self.start.seed)
        outputs = posterior.predict(self.data.val.inputs, count, replay)
        return self.recipe.output_model.validation(outputs, self.data.val.labels), posterior


class SubspaceESSFit(_SubspaceFit):
    """ESS in the subspace from z = 0 (the SWA solution) on the exact tempered likelihood; one step per
    transition, samples kept after burn-in."""

    unit = "iteration"

    def __init__(self, start: TrialStart, context: TrialContext) -> None:
        super().__init__(start, context)
        train = self.data.train
        self.log_likelihood = full_batch_log_likelihood(
            self.model, self.subspace, train.inputs, train.labels, self.recipe.output_model
        )
        self.generator = torch.Generator(device=start.device).manual_seed(start.seed)
        self.position = torch.zeros(self.settings.rank, device=start.device)
        self.samples = torch.empty(0, self.settings.rank, device=start.device)
        self.current = self._tempered(self.position)
        self.steps = self.settings.iterations

    def _tempered(self, coordinates: torch.Tensor) -> float:
        return self.log_likelihood(coordinates) / self.settings.likelihood_temperature

    def step(self, index: int) -> tuple[dict[str, Any], SubspacePosterior | None]:
        settings = self.settings
        found = elliptical_slice_step(
            self.position, self.current, self._tempered, settings.prior_std, self.generator
        )
        self.position, self.current = found.position, found.log_likelihood
        if index >= settings.burn_in:
            self.samples = torch.cat([self.samples, self.position[None]])
        metrics = {
            "train_log_likelihood": self.current * settings.likelihood_temperature,
            "likelihood_evaluations": found.evaluations,
            "kept_samples": len(self.samples),
        }
        if not len(self.samples):
            return metrics, None
        count = min(settings.val_samples, len(self.samples))
        validation, posterior = self._posterior({"samples": self.samples.clone()}, count)
        return {**metrics, **validation}, posterior

    def state_dict(self) -> dict[str, Any]:
        return {"position": self.position, "samples": self.samples, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.position = state["position"].to(self.start.device)
        self.samples = state["samples"].to(self.start.device)
        self.generator.set_state(state["generator"])
        self.current = self._tempered(self.position)


class SubspaceVIFit(_SubspaceFit):
    """Full-covariance Gaussian VI in the subspace (Adam on minibatch ELBOs); one step per epoch."""

    def __init__(self, start: TrialStart, context: TrialContext) -> None:
        super().__init__(start, context)
        self.q = SubspaceGaussian(self.settings.rank, self.settings.initial_std).to(start.device)
        self.optimizer = torch.optim.Adam(self.q.parameters(), lr=self.settings.lr)
        self.noise = torch.Generator(device=start.device).manual_seed(start.seed + 1)
        self.steps = self.settings.epochs

    def step(self, index: int) -> tuple[dict[str, Any], SubspacePosterior]:
        settings, data, likelihood = self.settings, self.data, self.recipe.output_model
        count = len(data.train.labels)
        total = torch.zeros((), device=self.start.device)
        model, subspace = self.model, self.subspace
        for inputs, labels in batches(
            data.train.inputs, data.train.labels, settings.batch_size, self.start.generator
        ):

            def log_likelihood(coordinates: torch.Tensor, inputs=inputs, labels=labels) -> torch.Tensor:
                weights = as_parameters(model, subspace.weights(coordinates))
                return -likelihood.loss(functional_call(model, weights, (inputs,)), labels) * count

            self.optimizer.zero_grad(set_to_none=True)
            loss = negative_elbo(
                self.q, log_likelihood, settings.prior_std, settings.likelihood_temperature, self.noise
            )
            (loss / count).backward()
            self.optimizer.step()
            total += loss.detach() * len(labels) / count
        coordinates = {"mean": self.q.mean.detach().clone(), "scale_tril": self.q.scale_tril.detach().clone()}
        validation, posterior = self._posterior(coordinates, settings.val_samples)
        return {"negative_elbo": float(total), **validation}, posterior

    def state_dict(self) -> dict[str, Any]:
        return loop_state(self.q, self.optimizer, self.start.generator, noise=self.noise.get_state())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        restore_loop(state, self.q, self.optimizer, self.start.generator)
        self.noise.set_state(state["noise"])


def train_subspace(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune trainable: subspace around the seed's SWAG solution, then ESS or VI inside it."""
    start = start_trial(config, SubspaceSettings)
    fit = SubspaceESSFit if start.settings.inference == "ess" else SubspaceVIFit
    run_fit(fit(start, context), start, context)


def rank_problem(settings: SubspaceSettings, swag: Any) -> tuple[str, str] | None:
    """A PCA subspace's rank must not exceed the snapshots its SWAG parent keeps (one per epoch, up to
    its rank)."""
    kept = min(swag.epochs, swag.rank)
    if settings.subspace != "pca" or settings.rank <= kept:
        return None
    return "rank", (
        f"rank {settings.rank} exceeds the {kept} snapshots its SWAG stage keeps (one per epoch, up to its "
        f"rank: epochs {swag.epochs}, rank {swag.rank})"
    )


def subspace_steps(settings: SubspaceSettings) -> int:
    """ESS reports once per transition, VI once per epoch."""
    return settings.iterations if settings.inference == "ess" else settings.epochs


def subspace_passes(settings: SubspaceSettings) -> float:
    """ESS: a full-batch likelihood per transition (a lower bound: each shrink costs one more); VI: epochs."""
    return float(settings.iterations if settings.inference == "ess" else settings.epochs)


METHOD = Method(
    name="subspace",
    display_name="Subspace",
    hint="widen the likelihood-temperature grid or lower the SWAG learning rate",
    settings=SubspaceSettings,
    steps=subspace_steps,
    trainable=train_subspace,
    posterior=SubspacePosterior,
    checkpoint="last",
    parents=("swag",),
    tiny={"rank": 2, "iterations": 3, "burn_in": 1, "val_samples": 2},
    probe={"iterations": 2, "burn_in": 1, "epochs": 2},
    probe_fixed={"rank": 2},  # a probed SWAG keeps 2 snapshots, at either of the probe's lengths
    parent_problem=rank_problem,
    passes=TrainingPasses(
        subspace_passes, rule="ESS: at least one full-batch likelihood per transition; VI: one pass per epoch"
    ),
    paper=(
        'Izmailov, Maddox, Kirichenko, Garipov, Vetrov & Wilson (2019), "Subspace Inference for Bayesian '
        'Deep Learning", UAI'
    ),
)
