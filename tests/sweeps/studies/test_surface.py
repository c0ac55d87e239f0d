"""Posterior surfaces: the plane through three checkpoints, exact densities at its grid points (Ray tasks)."""

import json

import pytest
import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from bdlsweep.storage.layout import SweepLayout
from bdlsweep.storage.locations import Location
from bdlsweep.sweeps.running.selection import Selection, TrialRecord
from bdlsweep.sweeps.studies.surface import (
    SurfaceInputError,
    SurfaceSettings,
    checkpoint_weights,
    compute_surface,
)
from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.inference.subspace_log_density import gaussian_log_prior
from bdlsweep.trainables.inference.weight_subspaces import plane_through
from bdlsweep.trainables.methods.map import MAPPosterior
from bdlsweep.trainables.methods.sgmcmc import SGMCMCPosterior
from bdlsweep.trainables.posteriors.base import ModelRecipe

RECIPE = ModelRecipe("mlp", {"hidden": [8]}, (1, 8, 8), 10)


def test_the_plane_puts_the_checkpoints_at_their_coordinates():
    torch.manual_seed(0)
    first, second, third = torch.randn(3, 50, dtype=torch.float64)
    plane, coordinates = plane_through(first, second, third)
    assert coordinates[:2].tolist() == [[0.0, 0.0], [1.0, 0.0]] and coordinates[2, 1] == 1.0
    for point, weights in zip(coordinates, (first, second, third), strict=True):
        torch.testing.assert_close(plane.weights(point), weights)
    assert abs(float(plane.basis[0] @ plane.basis[1])) < 1e-10  # orthogonal directions
    with pytest.raises(ValueError, match="one line"):
        plane_through(first, second, 2 * second - first)


def test_the_gaussian_log_prior_is_the_normal_log_density_with_variance_one_over_weight_decay():
    weights = torch.randn(40)
    scale = torch.tensor(3.0**-0.5, dtype=torch.float64)
    expected = torch.distributions.Normal(0.0, scale).log_prob(weights.double()).sum()
    assert gaussian_log_prior(weights, 3.0) == pytest.approx(float(expected), rel=1e-12)


def _storage(tmp_path) -> Location:
    """A storage folder holding a sweep record on digits (enough for surfaces: dataset and its options)."""
    (tmp_path / "sweep.json").write_text(json.dumps({"dataset": "digits", "dataset_options": {}}))
    return Location.parse(tmp_path)


def _direct_log_posterior(weights: torch.Tensor, temperature: float, weight_decay: float) -> float:
    """The training set's log-likelihood by one log-softmax over all of it, plus the prior, tempered."""
    data = load_dataset("digits", {})
    model = RECIPE.build()
    vector_to_parameters(weights, model.parameters())
    with torch.no_grad():
        log_probs = torch.log_softmax(model(data.train.inputs).double(), dim=-1)
    log_likelihood = float(log_probs[torch.arange(len(data.train.labels)), data.train.labels].sum())
    prior = torch.distributions.Normal(0.0, weight_decay**-0.5).log_prob(weights.double()).sum()
    return (log_likelihood + float(prior)) / temperature


def test_the_grid_holds_the_exact_tempered_log_posterior_at_each_checkpoint(tmp_path, ray_session):
    torch.manual_seed(0)
    model = RECIPE.build()
    first = parameters_to_vector(model.parameters()).detach().clone()
    second, third = first.clone(), first.clone()
    second[3] += 0.7
    third[100] -= 0.9  # orthogonal to second − first: the third checkpoint sits at (0, 1), on the grid
    folders = []
    for index, weights in enumerate((first, second, third)):
        vector_to_parameters(weights, model.parameters())
        folders.append(str(MAPPosterior(model, RECIPE).save(tmp_path / f"checkpoint{index}")))
    settings = SurfaceSettings(grid_size=3, limit_left=-1, limit_right=1, limit_bottom=-1, limit_top=1)
    settings = SurfaceSettings(**{**vars(settings), "temperature": 2.0, "weight_decay": 3.0})
    surface = compute_surface(_storage(tmp_path), folders, settings, "exact")
    assert len(surface.grid) == 9 and surface.anchors[["a", "b"]].values.tolist() == [[0, 0], [1, 0], [0, 1]]
    for (a, b), weights in zip([(0, 0), (1, 0), (0, 1)], (first, second, third), strict=True):
        expected = _direct_log_posterior(weights, 2.0, 3.0)
        at = surface.grid[(surface.grid["a"] == a) & (surface.grid["b"] == b)]
        assert float(at["log_posterior"].iloc[0]) == pytest.approx(expected, rel=1e-5)
    expected = [_direct_log_posterior(w, 2.0, 3.0) for w in (first, second, third)]
    assert surface.anchors["log_posterior"].tolist() == pytest.approx(expected, rel=1e-5)
    grid = surface.grid
    assert (grid["log_posterior"] == grid["log_likelihood"] + grid["log_prior"]).all()
    for name in ("grid.csv", "anchors.csv", "settings.json", "surface.png"):
        assert (surface.folder / name).is_file()


def test_named_checkpoints_read_selections_and_kept_samples(tmp_path):
    storage = _storage(tmp_path)
    model = RECIPE.build()
    samples = torch.randn(4, sum(p.numel() for p in model.parameters()))
    chain = SGMCMCPosterior(model, RECIPE, samples).save(tmp_path / "chain")
    network = MAPPosterior(model, RECIPE).save(tmp_path / "map")
    for label, method, folder in (("sgld", "sgmcmc", chain), ("map", "map", network)):
        member = TrialRecord("t0", 1, {"seed": 1}, {"val_elpd": -1.0}, str(folder))
        Selection(label, label, method, None, "val_elpd", {1: member}).save(SweepLayout(storage))
    inputs = load_dataset("digits", {}).train.inputs
    weights, recipe, _ = checkpoint_weights(storage, "sgld:1:2", inputs)
    assert torch.equal(weights, samples[2]) and recipe.name == "mlp"
    weights, _, _ = checkpoint_weights(storage, "map:1", inputs)
    assert torch.equal(weights, parameters_to_vector(model.parameters()).detach())
    for name, problem in [
        ("sgld:7", "has no seed 7"),
        ("swag:1", "has no selection 'swag'"),
        ("map:1:0", "keeps no weight samples"),
        ("sgld:1:4", "sample 4 of 4 kept samples"),
        ("map", "neither a checkpoint folder nor LABEL:SEED"),
        (str(tmp_path / "selections"), "not a checkpoint bdlsweep can read"),
    ]:
        with pytest.raises(SurfaceInputError, match=problem):
            checkpoint_weights(storage, name, inputs)


def test_bad_settings_are_refused():
    with pytest.raises(SurfaceInputError, match="grid size"):
        SurfaceSettings(grid_size=1)
    with pytest.raises(SurfaceInputError, match="limits"):
        SurfaceSettings(limit_left=1.0, limit_right=0.0)
