"""Full-batch HMC on each device: a correctness check against a closed-form posterior, and leapfrog speed.

Run: ``python benchmarks/hmc_device.py [--devices cpu,cuda] [--examples 10000] [--iterations 3]``.
1. On each device, a chain on a conjugate Bayesian linear regression (float64) through the
   framework's ``full_batch_energy`` and ``hmc_iteration``: prints the largest error of the
   sample mean and std, in posterior standard deviations, and the acceptance rate.
2. On each device and precision, HMC iterations of a 784-256-256-10 MLP on MNIST-shaped synthetic
   data (the whole set in every gradient, as bnn_hmc): seconds per leapfrog step and, with CUDA,
   the speed-up over the CPU measured in the same run and the peak GPU memory.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from bdlsweep.trainables.inference.hmc_kernel import hmc_iteration
from bdlsweep.trainables.inference.likelihoods import LIKELIHOODS
from bdlsweep.trainables.inference.network_energy import full_batch_energy
from bdlsweep.trainables.models import build_model

NOISE_VARIANCE = 0.25
PRIOR_VARIANCE = 2.0


class FixedNoiseGaussian:
    """Gaussian likelihood with known noise variance: mean NLL (up to a constant) of a linear model."""

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return ((outputs.squeeze(-1) - targets) ** 2).mean() / (2 * NOISE_VARIANCE)


def conjugate_check(device: torch.device, iterations: int = 3000, burn_in: int = 200) -> str:
    """Largest error of the chain's mean and std, in posterior stds, and its acceptance rate.

    The trajectory (10 steps of 0.005) is a fraction of every direction's oscillation period
    (2π · 0.035): a fixed length near a multiple of a period would mix that direction slowly.
    """
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(200, 3, generator=generator, dtype=torch.float64)
    targets = inputs @ torch.tensor([1.0, -0.5, 0.3], dtype=torch.float64)
    targets = targets + NOISE_VARIANCE**0.5 * torch.randn(200, generator=generator, dtype=torch.float64)
    precision = inputs.T @ inputs / NOISE_VARIANCE + torch.eye(3, dtype=torch.float64) / PRIOR_VARIANCE
    covariance = torch.linalg.inv(precision)
    mean = covariance @ inputs.T @ targets / NOISE_VARIANCE
    model = nn.Linear(3, 1, bias=False).double().to(device)
    energy_and_gradient = full_batch_energy(
        model, inputs.to(device), targets.to(device), FixedNoiseGaussian(), PRIOR_VARIANCE
    )
    position = mean.to(device)  # starting far away, a chain needs ~1000 iterations to shed its energy
    energy, gradient = energy_and_gradient(position)
    chain = torch.Generator(device=device).manual_seed(1)
    kept, accepted = [], 0
    for iteration in range(iterations):
        result = hmc_iteration(position, energy, gradient, energy_and_gradient, 0.005, 0.05, 100, 1.0, chain)
        position, energy, gradient = result.position, result.energy, result.gradient
        if iteration >= burn_in:
            kept.append(position.cpu().clone())
            accepted += result.accepted
    samples = torch.stack(kept)
    std = covariance.diag().sqrt()
    mean_error = ((samples.mean(0) - mean).abs() / std).max().item()
    std_error = ((samples.std(0) - std).abs() / std).max().item()
    rate = accepted / len(kept)
    return f"mean error {mean_error:.3f} std, std error {std_error:.3f} (relative), acceptance {rate:.2f}"


def leapfrog_seconds(
    device: torch.device, dtype: torch.dtype, examples: int, iterations: int, chunk_size: int
) -> float:
    """Seconds per leapfrog step (one full-batch gradient) of HMC on an MLP, after one warm-up iteration."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(examples, 784, generator=generator).to(device=device, dtype=dtype)
    labels = torch.randint(0, 10, (examples,), generator=generator).to(device)
    torch.manual_seed(0)
    model = build_model("mlp", {"hidden": [256, 256]}, (784,), 10).to(device=device, dtype=dtype)
    energy_and_gradient = full_batch_energy(
        model, inputs, labels, LIKELIHOODS["classification"], 1.0, chunk_size
    )
    position = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    energy, gradient = energy_and_gradient(position)
    chain = torch.Generator(device=device).manual_seed(1)
    steps, seconds = 0, 0.0
    for iteration in range(iterations + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        result = hmc_iteration(position, energy, gradient, energy_and_gradient, 1e-4, 2e-3, 100, 1.0, chain)
        if device.type == "cuda":
            torch.cuda.synchronize()
        position, energy, gradient = result.position, result.energy, result.gradient
        if iteration > 0:  # the first iteration warms up kernels and allocations
            seconds += time.perf_counter() - started
            steps += result.leapfrog_steps
    return seconds / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--examples", type=int, default=10000)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--chunk-sizes", default="1024,16384", help="examples per gradient chunk, compared")
    args = parser.parse_args()
    devices = [torch.device(name) for name in args.devices.split(",")]
    for device in devices:
        print(f"{device}: conjugate linear regression: {conjugate_check(device)}")
    for chunk_size in map(int, args.chunk_sizes.split(",")):
        timings = {}
        for dtype in (torch.float32, torch.float64):
            for device in devices:
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                seconds = leapfrog_seconds(device, dtype, args.examples, args.iterations, chunk_size)
                timings[device.type, dtype] = seconds
                line = f"{device} {dtype} chunk {chunk_size}: {1e3 * seconds:.2f} ms per leapfrog step"
                if device.type == "cuda":
                    line += f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"
                    if ("cpu", dtype) in timings:
                        line += f", {timings['cpu', dtype] / seconds:.1f}x the CPU"
                print(line)


if __name__ == "__main__":
    main()
