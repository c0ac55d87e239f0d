"""Architectures by name: every model exposes ``features(x)`` and a final linear ``head``."""

from bdlsweep.trainables.models.registry import MODELS, build_model, model_options

__all__ = ["MODELS", "build_model", "model_options"]
