"""Adding a method is one module, one registry entry and one search-space entry: a toy method defined
here (MAP weights plus Gaussian noise of a searched scale), registered for the test, is read from a
sweep file, planned, trained in a Tune session, named in tables and hinted at, with no other edits."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import torch
from pydantic import Field
from sweep_files import small_sweep, write_sweep
from tune_session import run_in_session

from bdlsweep.cli import main
from bdlsweep.search_spaces import DEFAULT_OPTUNA_SPACES, GRIDS, Range
from bdlsweep.sweeps.spec.loading import load_spec
from bdlsweep.trainables.inference.likelihoods import LIKELIHOODS
from bdlsweep.trainables.inference.network_weights import weight_vector
from bdlsweep.trainables.method import Method, TrainingPasses, count_no_passes
from bdlsweep.trainables.posteriors.single_network import FixedWeightsPosterior
from bdlsweep.trainables.posteriors.weight_distribution import WeightSamplingPosterior, load_sampling_network
from bdlsweep.trainables.registry import METHODS, display_name, posterior_class, selection_hint
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.reporting import COMPLETE, POSTERIOR_DIR
from bdlsweep.trainables.runtime.trial_loop import IterativeFit, TrialStart, run_fit, start_trial
from bdlsweep.trainables.settings import MethodSettings


class NoisyWeightsSettings(MethodSettings):
    """The noise scale added to every weight of the parent network."""

    noise: float = Field(0.01, ge=0)
    val_samples: int = Field(8, gt=0)


class NoisyWeightsPosterior(WeightSamplingPosterior):
    """The parent's weights plus N(0, noise²) per weight."""

    method: ClassVar[str] = "noisy_weights"

    def __init__(self, model, recipe, noise: float, train_inputs=None) -> None:
        super().__init__(model, recipe, train_inputs)
        self.noise = noise
        self.centre = weight_vector(model.parameters()).detach().clone()

    def weight_samples(self, num_samples: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        for _ in range(num_samples):
            noise = torch.randn(self.centre.shape, generator=generator, device=generator.device)
            yield self.centre + self.noise * noise.to(self.centre)

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"model": self.recipe.to_dict(), "noise": self.noise}, {"model_state": self.model.state_dict()}

    @classmethod
    def from_state(cls, metadata, state, device, train_inputs) -> NoisyWeightsPosterior:
        model, recipe, inputs = load_sampling_network(metadata, state, device, train_inputs)
        return cls(model, recipe, float(metadata["noise"]), inputs)


class NoisyWeightsFit(IterativeFit):
    """One step: the parent network with this trial's noise, validated by sampling."""

    steps = 1

    def __init__(self, start: TrialStart, context: TrialContext) -> None:
        self.start, self.context = start, context

    def step(self, index: int) -> tuple[dict[str, Any], NoisyWeightsPosterior]:
        settings, device = self.start.settings, self.start.device
        parent = FixedWeightsPosterior.load(self.context.parent(self.start.seed), device)
        posterior = NoisyWeightsPosterior(parent.model, parent.recipe, settings.noise)
        data = self.context.load_data(device)
        generator = torch.Generator(device=device).manual_seed(self.start.seed)
        outputs = posterior.predict(data.val.inputs, settings.val_samples, generator)
        return LIKELIHOODS[data.likelihood].validation(outputs, data.val.labels), posterior

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


def train_noisy_weights(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune trainable of the toy method."""
    start = start_trial(config, NoisyWeightsSettings)
    run_fit(NoisyWeightsFit(start, context), start, context)


TOY = Method(
    name="noisy_weights",
    display_name="Noisy MAP",
    ensemble_name="Noisy DE",
    hint="lower the noise grid",
    settings=NoisyWeightsSettings,
    trainable=train_noisy_weights,
    posterior=NoisyWeightsPosterior,
    parents=("map",),
    passes=TrainingPasses(count_no_passes, rule="trials only validate the parent network"),
    tiny={"val_samples": 2},
    probe={},
)


@pytest.fixture
def registered(monkeypatch):
    """The toy method's registry entry and search-space entry (a grid and a default Optuna space)."""
    monkeypatch.setitem(METHODS, TOY.name, TOY)
    monkeypatch.setitem(GRIDS, "noisy_weights_noise", [0.0, 0.01, 0.1])
    monkeypatch.setitem(DEFAULT_OPTUNA_SPACES, TOY.name, {"noise": Range("log_uniform", 1e-4, 1.0)})
    return TOY


SWEEP = small_sweep(
    "toy",
    {
        "map": {"method": "map", "epochs": 2},
        "noisy": {"method": "noisy_weights", "from": "map", "search": {"noise": "noisy_weights_noise"}},
    },
    {"methods": ["map", "noisy"], "ensemble_sizes": [1]},
)


def test_a_registered_method_is_read_from_a_sweep_file_and_planned(registered, tmp_path, capsys):
    path = write_sweep(tmp_path, SWEEP, "toy.yaml")
    spec = load_spec(path, [f"storage={tmp_path / 'runs'}"])
    stage = spec.stages["noisy"]
    assert stage.method_info is registered and stage.search["noise"] == [0.0, 0.01, 0.1]
    assert main(["run", str(path), f"storage={tmp_path / 'runs'}", "--dry-run"]) == 0
    assert "noisy" in capsys.readouterr().out
    bad = ["run", str(path), f"storage={tmp_path / 'runs'}", "stages.noisy.noise=-1", "--dry-run"]
    assert main(bad) == 2  # its settings are validated like any method's
    assert "stages.noisy.noise" in capsys.readouterr().err


def test_a_registered_method_trains_in_a_tune_session_and_its_checkpoint_loads(registered, tmp_path):
    parent_session = run_in_session(
        METHODS["map"].trainable,
        {**METHODS["map"].tiny, "seed": 1, "checkpoint_every_s": 0.0},
        TrialContext("toy", "map", "digits", {}, "mlp", {"hidden": [16]}),
        tmp_path / "map",
    )
    parent = parent_session.checkpoints[-1] / POSTERIOR_DIR
    context = TrialContext("toy", "noisy", "digits", {}, "mlp", {"hidden": [16]}, parents={1: str(parent)})
    session = run_in_session(train_noisy_weights, {"noise": 0.05, "seed": 1}, context, tmp_path / "toy")
    (metrics, checkpoint), *_ = session.reports
    assert metrics[COMPLETE] and math.isfinite(metrics["val_elpd"])
    loaded = posterior_class("noisy_weights").load(checkpoint / POSTERIOR_DIR)
    assert isinstance(loaded, NoisyWeightsPosterior) and loaded.noise == 0.05


def test_a_registered_method_is_named_in_tables_and_hinted_at(registered):
    assert display_name("noisy_weights") == "Noisy MAP"
    assert display_name("noisy_weights", 5) == "Noisy DE"
    assert selection_hint("noisy_weights") == "lower the noise grid"
