"""The interface every fitted method implements: save/load a checkpoint folder, predict with samples."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from bdlsweep.trainables.inference.likelihoods import LIKELIHOODS, Likelihood
from bdlsweep.trainables.models import build_model
from bdlsweep.trainables.posteriors.checkpoint import read_checkpoint, write_checkpoint


@dataclass(frozen=True)
class ModelRecipe:
    """What rebuilds an architecture and reads its outputs: name, options, shapes, likelihood."""

    name: str
    options: dict[str, Any]
    input_shape: tuple[int, ...]
    num_outputs: int
    likelihood: str = "classification"

    def build(self) -> nn.Module:
        """A freshly initialised model of this recipe."""
        return build_model(self.name, self.options, self.input_shape, self.num_outputs)

    @property
    def output_model(self) -> Likelihood:
        """The likelihood that turns this network's outputs into a predictive."""
        return LIKELIHOODS[self.likelihood]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, stored in checkpoint metadata."""
        return {**asdict(self), "input_shape": list(self.input_shape)}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> ModelRecipe:
        """Inverse of ``to_dict``."""
        return cls(
            name=record["name"],
            options=dict(record["options"]),
            input_shape=tuple(record["input_shape"]),
            num_outputs=int(record["num_outputs"]),
            likelihood=record.get("likelihood", "classification"),
        )


class Posterior(ABC):
    """A fitted posterior approximation.

    ``predict(inputs, num_samples, generator)`` returns one predictive per posterior sample: for
    classification log-probabilities ``[S, N, C]``, for regression the Gaussian's means then variances
    ``[S, N, 2D]`` (``Regression.split`` separates them).
    A posterior whose ``deterministic`` is true has one predictive (MAP, SWA): it returns a single
    sample whatever ``num_samples`` is, and ensembles use it once per member.
    """

    method: ClassVar[str]
    references: ClassVar[tuple[str, ...]] = ()  # metadata entries naming other folders of the sweep
    deterministic: bool = False

    @classmethod
    def predicts_once(cls, settings: Any) -> bool:
        """Whether a posterior of this class fitted with the stage's ``settings`` is deterministic
        (known before any is loaded, e.g. to count an evaluation's forward passes)."""
        return cls.deterministic

    @abstractmethod
    def predict(self, inputs: torch.Tensor, num_samples: int, generator: torch.Generator) -> torch.Tensor:
        """The predictives of ``num_samples`` posterior samples in draw order: classification
        log-probabilities ``[S, N, C]``; regression means then variances ``[S, N, 2D]``.

        All randomness comes from ``generator`` (on the posterior's device), so the same generator
        state gives the same samples for every input set.
        """

    @abstractmethod
    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(JSON metadata, tensor state) that ``from_state`` turns back into this posterior."""

    @classmethod
    @abstractmethod
    def from_state(
        cls,
        metadata: dict[str, Any],
        state: dict[str, Any],
        device: torch.device,
        train_inputs: torch.Tensor | None,
    ) -> Posterior:
        """Rebuild from a checkpoint; ``train_inputs`` serve batch-norm updates where needed."""

    def save(self, folder: str | Path) -> str | Path:
        """Write this posterior to ``folder`` (a path or a URI) atomically."""
        metadata, state = self.state()
        return write_checkpoint(folder, {"method": self.method, **metadata}, state, self.references)

    @classmethod
    def load(
        cls,
        folder: str | Path,
        device: torch.device | str = "cpu",
        train_inputs: torch.Tensor | None = None,
    ) -> Posterior:
        """Load a posterior of this class from a checkpoint folder."""
        device = torch.device(device)
        metadata, state = read_checkpoint(folder, map_location=device)
        return cls.from_state(metadata, state, device, train_inputs)


def load_network(
    metadata: dict[str, Any], state: dict[str, Any], device: torch.device
) -> tuple[nn.Module, ModelRecipe]:
    """The network stored in a checkpoint (``model`` recipe metadata, ``model_state`` weights)."""
    recipe = ModelRecipe.from_dict(metadata["model"])
    model = recipe.build().to(device)
    model.load_state_dict(state["model_state"])
    return model, recipe


class NetworkPosterior(Posterior):
    """A posterior held by one network (MAP, SWA, MC dropout): its checkpoint is the network."""

    def __init__(self, model: nn.Module, recipe: ModelRecipe) -> None:
        self.model = model
        self.recipe = recipe

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"model": self.recipe.to_dict()}, {"model_state": self.model.state_dict()}

    @classmethod
    def from_state(
        cls,
        metadata: dict[str, Any],
        state: dict[str, Any],
        device: torch.device,
        train_inputs: torch.Tensor | None,
    ) -> NetworkPosterior:
        return cls(*load_network(metadata, state, device))
