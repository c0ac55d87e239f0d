"""Full-batch Hamiltonian Monte Carlo over a flat parameter vector: leapfrog, Metropolis–Hastings, adaptation.

The target is exp(−U(θ)/T) with unit mass. One iteration draws a momentum, runs
``ceil(trajectory_length / step_size)`` leapfrog steps (at most ``max_steps``) and accepts the end
point with probability min(1, exp(−ΔH)). During burn-in the step size is tuned by dual averaging
(Hoffman & Gelman 2014) towards a target acceptance probability.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

EnergyAndGradient = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class HMCResult:
    """The chain's next state and what the iteration did."""

    position: torch.Tensor
    energy: torch.Tensor
    gradient: torch.Tensor
    accept_probability: float
    accepted: bool
    leapfrog_steps: int


def leapfrog_steps(step_size: float, trajectory_length: float, max_steps: int) -> int:
    """Leapfrog steps of one transition: the trajectory over the step size, between 1 and ``max_steps``."""
    return max(1, min(max_steps, math.ceil(trajectory_length / step_size)))


def hmc_iteration(
    position: torch.Tensor,
    energy: torch.Tensor,
    gradient: torch.Tensor,
    energy_and_gradient: EnergyAndGradient,
    step_size: float,
    trajectory_length: float,
    max_steps: int,
    temperature: float,
    generator: torch.Generator,
) -> HMCResult:
    """One HMC transition from ``position`` (whose energy and gradient are given) at temperature T."""
    steps = leapfrog_steps(step_size, trajectory_length, max_steps)
    momentum = torch.randn(position.shape, generator=generator, device=position.device, dtype=position.dtype)
    start_hamiltonian = energy / temperature + 0.5 * (momentum**2).sum()
    current, current_gradient = position.clone(), gradient
    momentum = momentum - 0.5 * step_size * current_gradient / temperature
    for step in range(steps):
        current = current + step_size * momentum
        current_energy, current_gradient = energy_and_gradient(current)
        if step < steps - 1:
            momentum = momentum - step_size * current_gradient / temperature
    momentum = momentum - 0.5 * step_size * current_gradient / temperature
    end_hamiltonian = current_energy / temperature + 0.5 * (momentum**2).sum()
    log_ratio = float(start_hamiltonian - end_hamiltonian)
    probability = 1.0 if log_ratio >= 0 else math.exp(log_ratio) if math.isfinite(log_ratio) else 0.0
    uniform = float(torch.rand((), generator=generator, device=position.device))
    if uniform < probability:
        return HMCResult(current, current_energy, current_gradient, probability, True, steps)
    return HMCResult(position, energy, gradient, probability, False, steps)


class DualAveraging:
    """Step-size adaptation towards ``target`` acceptance (Hoffman & Gelman 2014, Algorithm 5)."""

    def __init__(
        self,
        step_size: float,
        target: float = 0.8,
        gamma: float = 0.05,
        t0: float = 10.0,
        kappa: float = 0.75,
    ):
        self.mu = math.log(10 * step_size)
        self.target, self.gamma, self.t0, self.kappa = target, gamma, t0, kappa
        self.count = 0
        self.error_sum = 0.0
        self.log_averaged = math.log(step_size)

    def update(self, accept_probability: float) -> float:
        """Record one iteration's acceptance probability; the step size to use next."""
        self.count += 1
        self.error_sum += self.target - accept_probability
        log_step = self.mu - math.sqrt(self.count) / self.gamma * self.error_sum / (self.count + self.t0)
        weight = self.count ** (-self.kappa)
        self.log_averaged = weight * log_step + (1 - weight) * self.log_averaged
        return math.exp(log_step)

    @property
    def final_step_size(self) -> float:
        """The averaged step size, used once burn-in ends."""
        return math.exp(self.log_averaged)

    def state_dict(self) -> dict[str, float]:
        return {
            "count": self.count,
            "error_sum": self.error_sum,
            "log_averaged": self.log_averaged,
            "mu": self.mu,
        }

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.count = int(state["count"])
        self.error_sum, self.log_averaged, self.mu = state["error_sum"], state["log_averaged"], state["mu"]
