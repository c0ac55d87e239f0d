"""A posterior that is one set of weights (MAP, SWA): a single deterministic predictive."""

from __future__ import annotations

import torch

from bdlsweep.trainables.inference.network_weights import predictive_outputs
from bdlsweep.trainables.posteriors.base import NetworkPosterior


class FixedWeightsPosterior(NetworkPosterior):
    """One network; ``predict`` returns its predictive as a single sample ``[1, N, K]``."""

    deterministic = True

    def predict(self, inputs: torch.Tensor, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        return predictive_outputs(self.model, inputs, self.recipe.output_model)[None]
