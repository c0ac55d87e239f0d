"""Maps model names in sweep files to classes, and checks a sweep's model options against them."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from torch import nn

from bdlsweep.trainables.models.bert import BertClassifier
from bdlsweep.trainables.models.cnn import SmallCNN
from bdlsweep.trainables.models.cnn_lstm import CNNLSTM
from bdlsweep.trainables.models.lenet import LeNet5
from bdlsweep.trainables.models.mlp import MLP
from bdlsweep.trainables.models.packed import PackedMLP
from bdlsweep.trainables.models.painn import PaiNN
from bdlsweep.trainables.models.preact_resnet import PreResNet, WideResNet
from bdlsweep.trainables.models.resnet import ResNet

MODELS: dict[str, type[nn.Module]] = {
    "mlp": MLP,
    "cnn": SmallCNN,
    "lenet5": LeNet5,
    "wide_resnet": WideResNet,
    "preresnet": PreResNet,
    "resnet": ResNet,
    "bert": BertClassifier,
    "cnn_lstm": CNNLSTM,
    "painn": PaiNN,
    "packed_mlp": PackedMLP,
}

_DATA_ARGUMENTS = {"input_shape", "num_outputs", "vocab_size"}
MODEL_INPUTS = {"bert": "tokens", "cnn_lstm": "tokens", "painn": "molecules"}


def model_inputs(name: str) -> str:
    """What model ``name`` reads: ``tensor`` (features, images), ``tokens`` (ids) or ``molecules``."""
    return MODEL_INPUTS.get(name, "tensor")


def model_options(name: str) -> dict[str, inspect.Parameter]:
    """The options a sweep file may set for model ``name`` (constructor arguments minus data shape)."""
    signature = inspect.signature(MODELS[name].__init__, eval_str=True)
    return {
        key: parameter
        for key, parameter in signature.parameters.items()
        if key != "self" and key not in _DATA_ARGUMENTS
    }


def build_model(name: str, options: dict, input_shape: Sequence[int], num_outputs: int) -> nn.Module:
    """Instantiate model ``name`` for inputs of ``input_shape`` and ``num_outputs`` outputs.

    ``options`` include the data's model arguments (``vocab_size`` for the token models).
    """
    return MODELS[name](input_shape=tuple(input_shape), num_outputs=num_outputs, **options)
