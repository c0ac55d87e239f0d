"""SGLD and SGHMC as a ``torch.optim.Optimizer`` over the energy U(θ) = −log p(D|θ) − log p(θ).

The parameters' ``.grad`` hold the gradient of a minibatch's mean NLL; ∇U is estimated as
``data_size`` times that, plus the Gaussian prior N(0, σ²) term ``prior_precision · θ`` (1/σ²).
With step size η, momentum decay α, temperature T and an optional RMSprop-style diagonal
preconditioner G (pSGLD, Li et al. 2016), every step is

    v ← (1 − α)·v − η·G·∇U + √(2·α·η·T·G)·ξ,   θ ← θ + v        (SGHMC, Chen et al. 2014)

and SGLD is the case α = 1 (v is then just the Langevin step). The stationary distribution of θ is
∝ exp(−U(θ)/T) as η → 0 (T = 1: the posterior; T < 1: a cold posterior). With ``cycle_steps``
the step size follows cyclical SGMCMC (Zhang et al. 2020): a cosine from η to 0 in every cycle of
that many steps, without noise during the first ``exploration`` fraction of each cycle.

The preconditioner is estimated while ``adapt_preconditioner`` is true (burn-in) and then held
fixed: a constant G keeps exp(−U/T) stationary, whereas one that follows the current gradients
biases the samples (pSGLD drops the correction term that would fix that).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


class SGMCMC(torch.optim.Optimizer):
    """One SGLD / SGHMC step per ``step()``; randomness from an explicit ``generator``."""

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float,
        data_size: int = 1,
        momentum_decay: float = 1.0,
        temperature: float = 1.0,
        prior_precision: float = 0.0,
        preconditioning: bool = False,
        rms_decay: float = 0.99,
        rms_epsilon: float = 1e-8,
        cycle_steps: int | None = None,
        exploration: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        if not 0 < momentum_decay <= 1:
            raise ValueError(f"momentum_decay must be in (0, 1] (got {momentum_decay})")
        defaults = {
            "lr": lr,
            "data_size": data_size,
            "cycle_steps": cycle_steps,
            "exploration": exploration,
            "steps_taken": 0,
            "momentum_decay": momentum_decay,
            "temperature": temperature,
            "prior_precision": prior_precision,
            "preconditioning": preconditioning,
            "rms_decay": rms_decay,
            "rms_epsilon": rms_epsilon,
            "adapt_preconditioner": True,
        }
        super().__init__(params, defaults)
        self.generator = generator

    def set_phase(self, *, adapt_preconditioner: bool) -> None:
        """Switch the preconditioner's adaptation (on during burn-in, then held fixed)."""
        for group in self.param_groups:
            group["adapt_preconditioner"] = adapt_preconditioner

    @staticmethod
    def _schedule(group: dict) -> tuple[float, bool]:
        """This step's (step size, whether to inject noise) under the group's schedule."""
        if group["cycle_steps"] is None:
            return group["lr"], True
        position = cycle_position(group["steps_taken"], group["cycle_steps"])
        return cyclical_lr(group["lr"], group["steps_taken"], group["cycle_steps"]), position >= group[
            "exploration"
        ]

    def _noise(self, like: torch.Tensor) -> torch.Tensor:
        return torch.randn(like.shape, generator=self.generator, device=like.device, dtype=like.dtype)

    @torch.no_grad()
    def step(self, closure=None) -> None:
        for group in self.param_groups:
            lr, noise = self._schedule(group)
            decay, temperature = group["momentum_decay"], group["temperature"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                gradient = group["data_size"] * param.grad + group["prior_precision"] * param
                state = self.state[param]
                if "velocity" not in state:
                    state["velocity"] = torch.zeros_like(param)
                    state["square_average"] = torch.zeros_like(param)
                scale = torch.ones_like(param)
                if group["preconditioning"]:
                    average = state["square_average"]
                    if group["adapt_preconditioner"]:
                        rms_decay = group["rms_decay"]
                        average.mul_(rms_decay).addcmul_(gradient, gradient, value=1 - rms_decay)
                    scale = 1.0 / (group["rms_epsilon"] + average.sqrt())
                velocity = state["velocity"]
                velocity.mul_(1 - decay).addcmul_(scale, gradient, value=-lr)
                if noise and temperature > 0:
                    velocity.add_(torch.sqrt(2 * decay * lr * temperature * scale) * self._noise(param))
                param.add_(velocity)
            group["steps_taken"] += 1


def cyclical_lr(base_lr: float, step: int, steps_per_cycle: int) -> float:
    """Cosine step size of cyclical SGMCMC: base_lr/2 · (cos(π · position) + 1) within each cycle."""
    return base_lr / 2 * (math.cos(math.pi * cycle_position(step, steps_per_cycle)) + 1)


def cycle_position(step: int, steps_per_cycle: int) -> float:
    """Where ``step`` lies within its cycle, in [0, 1)."""
    return (step % steps_per_cycle) / steps_per_cycle
