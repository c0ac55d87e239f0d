"""Cost of last-layer Laplace prediction: S head samples over N points vs one forward pass of the network.

Run: ``python benchmarks/llla_eval.py [--device cuda] [--model wide_resnet] [--points N] [--samples S]``.
The framework's ``LLLAPosterior.predict`` computes the backbone features once and samples only the head,
as one ``[S, N, C]`` matmul; the baseline is one MAP forward pass
(``network_weights.predictive_outputs``) over the same points. Prints both times (median of
``--repeats``), their ratio (target ≤ 1.5) and, on CUDA, the peak memory of each; and, as a check that
the timed prediction is the network's own, its largest probability difference from the MAP forward pass
once the prior precision is 1e8 (the Laplace collapsed onto the MAP head). The default is the CPU
variant: a small CNN on CIFAR-shaped inputs.
"""

from __future__ import annotations

import argparse
import json

import torch
from timing import timed

from bdlsweep.trainables.inference.network_weights import predictive_outputs
from bdlsweep.trainables.models import build_model
from bdlsweep.trainables.posteriors.head_laplace import LLLAPosterior, fit_head_laplace
from bdlsweep.trainables.posteriors.last_layer import backbone_features

MODELS = {"cnn": {}, "wide_resnet": {"depth": 16, "widen_factor": 4}}


def llla_posterior(model: torch.nn.Module, fit_inputs: torch.Tensor, hessian: str) -> LLLAPosterior:
    """An LLLA posterior of ``model``'s head (sampled ``nn`` predictive) fitted on random labels."""
    features = backbone_features(model, fit_inputs)
    labels = torch.randint(0, model.head.out_features, (len(fit_inputs),), device=fit_inputs.device)
    laplace = fit_head_laplace(model.head, features, labels, hessian)
    laplace.prior_precision = 1.0
    return LLLAPosterior(model, [laplace], "nn", base="", prepared="", hessian=hessian)


def measure(model_name: str, points: int, samples: int, device: torch.device, repeats: int) -> dict:
    """Both timings, their ratio and peak memories, for one model and size."""
    torch.manual_seed(0)
    model = build_model(model_name, MODELS[model_name], (3, 32, 32), 10).to(device).eval()
    inputs = torch.rand(points, 3, 32, 32, device=device)
    posterior = llla_posterior(model, inputs[: min(points, 512)], "full")
    generator = torch.Generator(device=device).manual_seed(0)
    forward, forward_peak = timed(lambda: predictive_outputs(model, inputs), device, repeats)
    llla, llla_peak = timed(lambda: posterior.predict(inputs, samples, generator), device, repeats)
    posterior.prior_precision = 1e8  # the Laplace collapses onto the MAP head: the same predictive
    check = inputs[:64]
    collapsed = posterior.predict(check, 2, generator).exp()
    difference = (collapsed - predictive_outputs(model, check).exp()[None]).abs().max()
    return {
        "model": model_name,
        "device": str(device),
        "points": points,
        "samples": samples,
        "forward_s": forward,
        "llla_s": llla,
        "ratio": llla / forward,
        "collapsed_max_abs_probability_difference": float(difference),
        "forward_peak_mib": forward_peak / 2**20,
        "llla_peak_mib": llla_peak / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="cnn")
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(measure(args.model, args.points, args.samples, torch.device(args.device), args.repeats)))


if __name__ == "__main__":
    main()
