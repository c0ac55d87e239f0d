"""Flipout (Wen et al. 2018): pseudo-independent weight perturbations per example for mean-field VI.

A linear or convolutional layer computes its output at the mean weights W̄ and adds
((x ∘ s) ⊛ ΔW + Δb) ∘ r, where ΔW = σ ∘ ε is one shared Gaussian draw and s, r are random signs per
example (per input and output channel). Each example sees a weight sample with the same marginal
distribution as plain reparameterisation, but the perturbations of different examples in a batch
are decorrelated, which lowers the variance of minibatch gradients. Parameters of other layers
(norms, embeddings) take one shared reparameterised draw.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

CONVOLUTIONS = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}


def flipout_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The layers flipout perturbs, by name: linear layers and zero-padded convolutions."""
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) or (type(module) in CONVOLUTIONS and module.padding_mode == "zeros")
    }


def _parameter_name(layer: str, kind: str) -> str:
    """The name ``named_parameters`` gives a layer's weight or bias (no dot for the root module)."""
    return f"{layer}.{kind}" if layer else kind


def _signs(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Independent ±1 entries of ``shape``."""
    bits = torch.randint(0, 2, shape, generator=generator, device=like.device)
    return (2 * bits - 1).to(like.dtype)


def _perturbation(
    module: nn.Module,
    inputs: torch.Tensor,
    delta_weight: torch.Tensor,
    delta_bias: torch.Tensor | None,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """((x ∘ s) ⊛ ΔW + Δb) ∘ r for one layer, with signs drawn per example and channel."""
    if isinstance(module, nn.Linear):
        sign_shape = (inputs.shape[0],) + (1,) * (inputs.dim() - 2)
        signs_in = _signs((*sign_shape, inputs.shape[-1]), inputs, generator)
        output = F.linear(inputs * signs_in, delta_weight, delta_bias)
        return output * _signs((*sign_shape, output.shape[-1]), output, generator)
    spatial = (1,) * (inputs.dim() - 2)
    signs_in = _signs((inputs.shape[0], inputs.shape[1], *spatial), inputs, generator)
    convolve = CONVOLUTIONS[type(module)]
    output = convolve(
        inputs * signs_in,
        delta_weight,
        delta_bias,
        module.stride,
        module.padding,
        module.dilation,
        module.groups,
    )
    return output * _signs((output.shape[0], output.shape[1], *spatial), output, generator)


@contextmanager
def _perturbed(
    layers: dict[str, nn.Module], deltas: dict[str, torch.Tensor], generator: torch.Generator | None
) -> Iterator[None]:
    """Forward hooks that add each layer's flipout perturbation to its output."""

    def hook_for(name: str):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
            bias = deltas.get(_parameter_name(name, "bias")) if module.bias is not None else None
            weight = deltas[_parameter_name(name, "weight")]
            return output + _perturbation(module, args[0], weight, bias, generator)

        return hook

    handles = [module.register_forward_hook(hook_for(name)) for name, module in layers.items()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def flipout_forward(
    model: nn.Module,
    mean: dict[str, torch.Tensor],
    std: dict[str, torch.Tensor],
    inputs: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``model(inputs)`` under q = N(mean, std²) per parameter name, with flipout where it applies."""
    layers = flipout_layers(model)
    flipped = {_parameter_name(name, kind) for name in layers for kind in ("weight", "bias")}
    deltas, parameters = {}, {}
    for name, centre in mean.items():
        noise = torch.randn(centre.shape, generator=generator, device=centre.device, dtype=centre.dtype)
        if name in flipped:
            deltas[name] = std[name] * noise
            parameters[name] = centre
        else:
            parameters[name] = centre + std[name] * noise
    with _perturbed(layers, deltas, generator):
        return functional_call(model, parameters, (inputs,))
