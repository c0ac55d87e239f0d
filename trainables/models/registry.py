"""Maps model names in sweep files to classes, and checks a sweep's model options against them."""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Sequence

from torch import nn

MODELS: dict[str, str] = {
    "mlp": "mlp:MLP",
    "cnn": "cnn:SmallCNN",
    "lenet5": "lenet:LeNet5",
    "wide_resnet": "preact_resnet:WideResNet",
    "preresnet": "preact_resnet:PreResNet",
    "resnet": "resnet:ResNet",
    "bert": "bert:BertClassifier",
    "cnn_lstm": "cnn_lstm:CNNLSTM",
    "painn": "painn:PaiNN",
    "packed_mlp": "packed_networks:PackedMLP",
    "packed_lenet5": "packed_networks:PackedLeNet5",
}
"""Model name → ``module:Class`` under ``bdlsweep.trainables.models``, imported when first used (PaiNN
brings torch_geometric and BERT transformers, seconds of import time every other trial should not pay)."""


def model_class(name: str) -> type[nn.Module]:
    """The class of model ``name``."""
    module, cls = MODELS[name].split(":")
    return getattr(importlib.import_module(f"bdlsweep.trainables.models.{module}"), cls)


_DATA_ARGUMENTS = {"input_shape", "num_outputs", "vocab_size"}
MODEL_INPUTS = {"bert": "tokens", "cnn_lstm": "tokens", "painn": "molecules"}


def model_inputs(name: str) -> str:
    """What model ``name`` reads: ``tensor`` (features, images), ``tokens`` (ids) or ``molecules``."""
    return MODEL_INPUTS.get(name, "tensor")


@functools.cache
def _signature(constructor: Callable) -> inspect.Signature:
    """A model constructor's signature, annotations evaluated (read once: a suite checks every cell)."""
    return inspect.signature(constructor, eval_str=True)


def model_options(name: str) -> dict[str, inspect.Parameter]:
    """The options a sweep file may set for model ``name`` (constructor arguments minus data shape)."""
    signature = _signature(model_class(name).__init__)
    return {
        key: parameter
        for key, parameter in signature.parameters.items()
        if key != "self" and key not in _DATA_ARGUMENTS
    }


def build_model(name: str, options: dict, input_shape: Sequence[int], num_outputs: int) -> nn.Module:
    """Instantiate model ``name`` for inputs of ``input_shape`` and ``num_outputs`` outputs.

    ``options`` include the data's model arguments (``vocab_size`` for the token models).
    """
    return model_class(name)(input_shape=tuple(input_shape), num_outputs=num_outputs, **options)
