"""Full-batch HMC as a Ray trainable: one chain per trial (seed); chains combine at evaluation like members.

The energy is exact over the whole training set, U(θ) = Σ_i −log p(y_i|x_i, θ) + |θ|²/(2σ²), summed
in chunks. The first ``burn_in`` iterations adapt the step size (dual averaging towards
``target_accept``) and are discarded; every later iteration keeps the chain's position (at most
``max_samples``, the most recent). Each iteration reports the acceptance rate, step size and
leapfrog steps to Tune (and so to MLflow). ``float64`` runs the chain in double precision, as
bnn_hmc does; the trial runs on the GPU Ray gives it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import torch
from pydantic import Field, model_validator
from torch.nn.utils import parameters_to_vector

from bdlsweep.trainables.data.splits import DatasetSplits, LabelledSet
from bdlsweep.trainables.inference.hmc_kernel import DualAveraging, hmc_iteration, leapfrog_steps
from bdlsweep.trainables.inference.network_energy import full_batch_energy
from bdlsweep.trainables.method import Method, TrainingPasses
from bdlsweep.trainables.posteriors.single_network import FixedWeightsPosterior
from bdlsweep.trainables.posteriors.stored_samples import SampledWeightsPosterior
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.trial_loop import (
    IterativeFit,
    TrialStart,
    run_fit,
    start_trial,
)
from bdlsweep.trainables.settings import MethodSettings


class HMCSettings(MethodSettings):
    """Hyper-parameters of full-batch HMC; step size, trajectory length and temperature are tuned."""

    step_size: float = Field(1e-3, gt=0)
    """Initial leapfrog step size (adapted during burn-in when adapt_step_size)."""
    trajectory_length: float = Field(0.1, gt=0)
    """Length of each trajectory; leapfrog steps = trajectory_length / step_size."""
    max_leapfrog_steps: int = Field(1000, gt=0)
    """Upper bound on leapfrog steps per iteration."""
    iterations: int = Field(100, gt=0)
    """HMC iterations (trajectories with an accept/reject step)."""
    burn_in: int = Field(10, ge=0)
    """Iterations discarded at the start (and used to adapt the step size)."""
    adapt_step_size: bool = True
    """Adapt the step size by dual averaging during burn-in."""
    target_accept: float = Field(0.8, gt=0, lt=1)
    """Acceptance rate the step-size adaptation aims for."""
    temperature: float = Field(1.0, gt=0)
    """Posterior temperature T (the energy is divided by T)."""
    prior_variance: float = Field(1.0, gt=0)
    """Variance σ² of the Gaussian prior on every weight."""
    float64: bool = False
    """Run the chain in double precision (as bnn_hmc does)."""
    energy_chunk_size: int = Field(1024, gt=0)
    """Examples per chunk when summing the full-batch energy and its gradient."""
    max_samples: int = Field(100, gt=0)
    """Most positions kept after burn-in (the most recent)."""
    val_samples: int = Field(20, gt=0)
    """Kept positions used per validation."""

    @model_validator(mode="after")
    def _keeps_a_sample(self) -> HMCSettings:
        if self.burn_in >= self.iterations:
            raise ValueError(f"burn_in ({self.burn_in}) must be below iterations ({self.iterations})")
        return self


class HMCPosterior(SampledWeightsPosterior):
    """The positions an HMC chain visited after burn-in."""

    method: ClassVar[str] = "hmc"


def _in_float64(data: DatasetSplits) -> DatasetSplits:
    """Train and validation splits with floating-point inputs and targets in double precision."""

    def double(split: LabelledSet) -> LabelledSet:
        inputs = split.inputs.double() if split.inputs.is_floating_point() else split.inputs
        labels = split.labels.double() if split.labels.is_floating_point() else split.labels
        return LabelledSet(inputs, labels)

    return replace(data, train=double(data.train), val=double(data.val))


class HMCFit(IterativeFit):
    """One chain: every iteration a trajectory and an accept/reject step; positions after burn-in kept."""

    unit = "iteration"

    def __init__(self, start: TrialStart, context: TrialContext) -> None:
        settings: HMCSettings = start.settings
        self.start, self.settings = start, settings
        device = start.device
        self.dtype = torch.float64 if settings.float64 else torch.float32
        data = context.load_data(device)
        self.data = _in_float64(data) if settings.float64 else data
        if context.parents:
            parent = FixedWeightsPosterior.load(context.parent(start.seed), device)
            model, self.recipe = parent.model.to(dtype=self.dtype).eval(), parent.recipe
        else:
            self.recipe = context.recipe(self.data)
            model = self.recipe.build().to(device=device, dtype=self.dtype).eval()
        self.generator = torch.Generator(device=device).manual_seed(start.seed)
        self.energy_and_gradient = full_batch_energy(
            model,
            self.data.train.inputs,
            self.data.train.labels,
            self.recipe.output_model,
            settings.prior_variance,
            settings.energy_chunk_size,
        )
        self.adaptation = DualAveraging(settings.step_size, target=settings.target_accept)
        self.position = parameters_to_vector(model.parameters()).detach()
        self.samples = torch.empty(0, len(self.position), device=device, dtype=self.dtype)
        self.step_size, self.accepted = settings.step_size, 0
        self.energy, self.gradient = self.energy_and_gradient(self.position)
        self.steps = settings.iterations

    def step(self, index: int) -> tuple[dict[str, Any], HMCPosterior | None]:
        settings = self.settings
        result = hmc_iteration(
            self.position,
            self.energy,
            self.gradient,
            self.energy_and_gradient,
            self.step_size,
            settings.trajectory_length,
            settings.max_leapfrog_steps,
            settings.temperature,
            self.generator,
        )
        self.position, self.energy, self.gradient = result.position, result.energy, result.gradient
        self.accepted += result.accepted
        metrics = {
            "accept_probability": result.accept_probability,
            "acceptance_rate": self.accepted / (index + 1),
            "step_size": self.step_size,
            "leapfrog_steps": result.leapfrog_steps,
            "train_energy": float(self.energy),
        }
        if index < settings.burn_in and settings.adapt_step_size:
            self.step_size = self.adaptation.update(result.accept_probability)
            if index == settings.burn_in - 1:
                self.step_size = self.adaptation.final_step_size
        if index >= settings.burn_in:
            self.samples = torch.cat([self.samples, self.position[None]])[-settings.max_samples :]
        metrics["kept_samples"] = len(self.samples)
        if not len(self.samples):
            return metrics, None
        network = self.recipe.build().to(device=self.start.device, dtype=self.dtype)
        posterior = HMCPosterior(network, self.recipe, self.samples)
        replay = torch.Generator(device=self.start.device).manual_seed(self.start.seed)
        outputs = posterior.predict(
            self.data.val.inputs, min(settings.val_samples, len(self.samples)), replay
        )
        metrics.update(self.recipe.output_model.validation(outputs.float(), self.data.val.labels))
        return metrics, posterior

    def state_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "samples": self.samples,
            "step_size": self.step_size,
            "accepted": self.accepted,
            "generator": self.generator.get_state(),
            "adaptation": self.adaptation.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.start.device
        self.position, self.samples = state["position"].to(device), state["samples"].to(device)
        self.step_size, self.accepted = state["step_size"], state["accepted"]
        self.generator.set_state(state["generator"])
        self.adaptation.load_state_dict(state["adaptation"])
        self.energy, self.gradient = self.energy_and_gradient(self.position)


def train_hmc(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune trainable: one HMC chain from the seed's MAP weights (with ``from``) or a fresh
    initialisation; report every iteration."""
    start = start_trial(config, HMCSettings)
    run_fit(HMCFit(start, context), start, context)


def chain_steps(settings: HMCSettings) -> int:
    """A chain reports once per iteration."""
    return settings.iterations


def leapfrog_passes(settings: HMCSettings) -> float:
    """Full-batch gradients of a chain: leapfrog steps per iteration at the initial step size."""
    steps = leapfrog_steps(settings.step_size, settings.trajectory_length, settings.max_leapfrog_steps)
    return float(settings.iterations * steps)


METHOD = Method(
    name="hmc",
    display_name="HMC",
    settings=HMCSettings,
    steps=chain_steps,
    trainable=train_hmc,
    posterior=HMCPosterior,
    checkpoint="last",
    parents=("map",),
    parent_optional=True,
    tiny={"iterations": 3, "burn_in": 1, "trajectory_length": 0.002, "val_samples": 2},
    probe={"iterations": 2, "burn_in": 1, "adapt_step_size": False},
    passes=TrainingPasses(
        leapfrog_passes, rule="one full-batch gradient per leapfrog step, at the initial step size"
    ),
    paper=(
        'Izmailov, Vikram, Hoffman & Wilson (2021), "What Are Bayesian Neural Network Posteriors Really '
        'Like?", ICML'
    ),
)
