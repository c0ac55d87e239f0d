"""Posterior prediction against reference implementations, on the same weights and data: speed and agreement.

Run: ``python benchmarks/reference.py [--device cuda] [--points N] [--samples S]``. Two comparisons:

- SWAG: the framework's ``SWAGPosterior.predict`` (samples batched through ``torch.func.vmap``) vs a
  straightforward per-sample loop (write each weight vector into the network, one forward pass), with the
  same generator seed, so both see the same weight samples: their predictions must agree to float error.
- LLLA: the framework's ``LLLAPosterior.predict`` (features once, one ``[S, N, C]`` head matmul) vs
  laplace-torch's own ``predictive_samples(pred_type="nn")`` on the same fitted Laplace and generator seed.

Prints, per comparison, both times (median of ``--repeats``), the speed-up (reference / framework) and
the largest absolute difference of the predicted probabilities. The default network is the digits MLP.
"""

from __future__ import annotations

import argparse
import json

import torch
from llla_eval import llla_posterior
from timing import timed

from bdlsweep.trainables.inference.network_weights import predictive_outputs
from bdlsweep.trainables.posteriors.base import ModelRecipe
from bdlsweep.trainables.posteriors.last_layer import backbone_features
from bdlsweep.trainables.posteriors.swag_gaussian import SWAGMoments, SWAGPosterior


def swag_posterior(recipe: ModelRecipe, device: torch.device, snapshots: int = 20) -> SWAGPosterior:
    """A SWAG posterior (rank 10) whose snapshots scatter around the network's initial weights."""
    torch.manual_seed(0)
    model = recipe.build().to(device)
    mean = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    moments = SWAGMoments(len(mean), rank=10, device=device)
    for _ in range(snapshots):
        moments.collect(mean + 0.02 * torch.randn_like(mean))
    return SWAGPosterior(model, recipe, moments)


def per_sample_loop(posterior: SWAGPosterior, inputs: torch.Tensor, samples: int, seed: int) -> torch.Tensor:
    """The reference SWAG prediction: one weight sample at a time written into the network."""
    generator = torch.Generator(device=inputs.device).manual_seed(seed)
    outputs = []
    for weights in posterior.weight_samples(samples, generator):
        torch.nn.utils.vector_to_parameters(weights, posterior.model.parameters())
        outputs.append(predictive_outputs(posterior.model, inputs))
    return torch.stack(outputs)


def compare(reference, framework, device: torch.device, repeats: int) -> dict:
    """Times of two predictions (functions of nothing returning log-probabilities) and their agreement."""
    reference_s, reference_peak = timed(reference, device, repeats)
    framework_s, framework_peak = timed(framework, device, repeats)
    difference = (reference().exp() - framework().exp()).abs().max().item()
    return {
        "reference_s": reference_s,
        "framework_s": framework_s,
        "speedup": reference_s / framework_s,
        "max_abs_probability_difference": difference,
        "reference_peak_mib": reference_peak / 2**20,
        "framework_peak_mib": framework_peak / 2**20,
    }


def measure(points: int, samples: int, device: torch.device, repeats: int) -> dict:
    """Both comparisons on a digits-shaped MLP (64 inputs, 128-128 hidden, 10 classes)."""
    recipe = ModelRecipe("mlp", {"hidden": [128, 128]}, (1, 8, 8), 10)
    inputs = torch.rand(points, 1, 8, 8, device=device)
    swag = swag_posterior(recipe, device)

    def framework_swag() -> torch.Tensor:
        return swag.predict(inputs, samples, torch.Generator(device=device).manual_seed(1))

    swag_result = compare(lambda: per_sample_loop(swag, inputs, samples, 1), framework_swag, device, repeats)
    llla = llla_posterior(swag.recipe.build().to(device).eval(), inputs, "full")
    features = backbone_features(llla.model, inputs)

    def laplace_torch() -> torch.Tensor:
        generator = torch.Generator(device=device).manual_seed(2)
        probabilities = llla.laplace.predictive_samples(
            features, pred_type="nn", n_samples=samples, generator=generator
        )
        return probabilities.clamp_min(torch.finfo(probabilities.dtype).tiny).log()

    def framework_llla() -> torch.Tensor:
        return llla.predict(inputs, samples, torch.Generator(device=device).manual_seed(2))

    llla_result = compare(laplace_torch, framework_llla, device, repeats)
    size = {"device": str(device), "points": points, "samples": samples}
    return {
        "swag_vs_per_sample_loop": {**size, **swag_result},
        "llla_vs_laplace_torch": {**size, **llla_result},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=400)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(measure(args.points, args.samples, torch.device(args.device), args.repeats), indent=1))


if __name__ == "__main__":
    main()
