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
from bdlsweep.trainables.inference.hmc_kernel import DualAveraging, hmc_iteration
from bdlsweep.trainables.inference.network_energy import full_batch_energy
from bdlsweep.trainables.method import Method
from bdlsweep.trainables.methods.map import MAPPosterior
from bdlsweep.trainables.posteriors.stored_samples import SampledWeightsPosterior
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.reporting import report, resume_state, trial_seed
from bdlsweep.trainables.runtime.training import seed_everything, trial_device
from bdlsweep.trainables.settings import MethodSettings


class HMCSettings(MethodSettings):
    """Hyper-parameters of full-batch HMC; step size, trajectory length and temperature are tuned."""

    step_size: float = Field(1e-3, gt=0)
    trajectory_length: float = Field(0.1, gt=0)
    max_leapfrog_steps: int = Field(1000, gt=0)
    iterations: int = Field(100, gt=0)
    burn_in: int = Field(10, ge=0)
    adapt_step_size: bool = True
    target_accept: float = Field(0.8, gt=0, lt=1)
    temperature: float = Field(1.0, gt=0)
    prior_variance: float = Field(1.0, gt=0)
    float64: bool = False
    energy_chunk_size: int = Field(1024, gt=0)
    max_samples: int = Field(100, gt=0)
    val_samples: int = Field(20, gt=0)

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


def train_hmc(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune trainable: one HMC chain from the seed's MAP weights (with ``from``) or a fresh
    initialisation; report every iteration."""
    settings = HMCSettings.from_config(config)
    seed = trial_seed(config)
    seed_everything(seed)
    device = trial_device()
    dtype = torch.float64 if settings.float64 else torch.float32
    data = context.load_data(device)
    if settings.float64:
        data = _in_float64(data)
    if context.parents:
        start = MAPPosterior.load(context.parent(seed), device)
        model, recipe = start.model.to(dtype=dtype).eval(), start.recipe
    else:
        recipe = context.recipe(data)
        model = recipe.build().to(device=device, dtype=dtype).eval()
    generator = torch.Generator(device=device).manual_seed(seed)
    energy_and_gradient = full_batch_energy(
        model,
        data.train.inputs,
        data.train.labels,
        recipe.output_model,
        settings.prior_variance,
        settings.energy_chunk_size,
    )
    adaptation = DualAveraging(settings.step_size, target=settings.target_accept)
    position = parameters_to_vector(model.parameters()).detach()
    samples = torch.empty(0, len(position), device=device, dtype=dtype)
    start, step_size, accepted = 0, settings.step_size, 0
    resumed = resume_state()
    if resumed is not None:
        position, samples = resumed["position"].to(device), resumed["samples"].to(device)
        start, step_size, accepted = resumed["iteration"], resumed["step_size"], resumed["accepted"]
        generator.set_state(resumed["generator"])
        adaptation.load_state_dict(resumed["adaptation"])
    energy, gradient = energy_and_gradient(position)
    for iteration in range(start, settings.iterations):
        result = hmc_iteration(
            position,
            energy,
            gradient,
            energy_and_gradient,
            step_size,
            settings.trajectory_length,
            settings.max_leapfrog_steps,
            settings.temperature,
            generator,
        )
        position, energy, gradient = result.position, result.energy, result.gradient
        accepted += result.accepted
        metrics = {
            "epoch": iteration + 1,
            "accept_probability": result.accept_probability,
            "acceptance_rate": accepted / (iteration + 1),
            "step_size": step_size,
            "leapfrog_steps": result.leapfrog_steps,
            "train_energy": float(energy),
        }
        if iteration < settings.burn_in and settings.adapt_step_size:
            step_size = adaptation.update(result.accept_probability)
            if iteration == settings.burn_in - 1:
                step_size = adaptation.final_step_size
        if iteration >= settings.burn_in:
            samples = torch.cat([samples, position[None]])[-settings.max_samples :]
        metrics["kept_samples"] = len(samples)
        posterior = None
        if len(samples):
            posterior = HMCPosterior(recipe.build().to(device=device, dtype=dtype), recipe, samples)
            replay = torch.Generator(device=device).manual_seed(seed)
            outputs = posterior.predict(data.val.inputs, min(settings.val_samples, len(samples)), replay)
            metrics.update(recipe.output_model.validation(outputs.float(), data.val.labels))
        state = {
            "position": position,
            "samples": samples,
            "iteration": iteration + 1,
            "step_size": step_size,
            "accepted": accepted,
            "generator": generator.get_state(),
            "adaptation": adaptation.state_dict(),
        }
        report(
            metrics,
            posterior,
            state,
            final=iteration + 1 == settings.iterations,
            every_s=settings.checkpoint_every_s,
        )


METHOD = Method(
    name="hmc",
    settings=HMCSettings,
    trainable=train_hmc,
    posterior=HMCPosterior,
    checkpoint="last",
    parents=("map",),
    parent_optional=True,
)
