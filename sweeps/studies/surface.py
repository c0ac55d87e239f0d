"""Posterior surfaces (bnn_hmc's ``make_posterior_surface_plot.py``): the tempered log-likelihood,
log-prior and log-posterior on a grid in the plane through three checkpoints' weights.

The plane's origin is the first checkpoint, the second sits at (1, 0) and the third at (·, 1)
(``subspaces.plane_through``). Log-likelihoods are exact sums over the whole training set, one Ray
task per grid row; the prior is N(0, I / weight_decay) with its normalising constant; both are divided
by the temperature. Checkpoints are named ``LABEL:SEED`` (the seed's selected checkpoint of a
selection label, e.g. ``map:1``), ``LABEL:SEED:INDEX`` (one kept sample of an SGMCMC or HMC chain),
or given as checkpoint folders.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import ray
import torch

from bdlsweep.analysis.surface_plots import plot_surface
from bdlsweep.storage.layout import SurfaceFiles, SweepLayout
from bdlsweep.storage.locations import Location
from bdlsweep.sweeps.cluster.ray_session import ray_for
from bdlsweep.sweeps.running.selection import Selection
from bdlsweep.sweeps.tracking.records import log_study
from bdlsweep.sweeps.tracking.server_check import while_reachable
from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.inference.network_weights import weight_vector
from bdlsweep.trainables.inference.subspace_log_density import full_batch_log_likelihood, gaussian_log_prior
from bdlsweep.trainables.inference.weight_subspaces import Subspace, plane_through
from bdlsweep.trainables.posteriors.base import ModelRecipe, Posterior
from bdlsweep.trainables.posteriors.checkpoint import CorruptCheckpointError, read_metadata
from bdlsweep.trainables.registry import posterior_class
from bdlsweep.trainables.runtime.training import trial_device


class SurfaceInputError(ValueError):
    """A checkpoint name or setting that cannot be used; the message names it."""


@dataclass(frozen=True)
class SurfaceSettings:
    """The grid (bnn_hmc's defaults: 20 × 20 over [−0.25, 1.25]²) and the density's temperature and
    prior precision (``weight_decay``)."""

    grid_size: int = 20
    limit_left: float = -0.25
    limit_right: float = 1.25
    limit_bottom: float = -0.25
    limit_top: float = 1.25
    temperature: float = 1.0
    weight_decay: float = 1.0

    def __post_init__(self) -> None:
        if self.grid_size < 2:
            raise SurfaceInputError(f"grid size: must be at least 2 (got {self.grid_size})")
        if self.temperature <= 0 or self.weight_decay <= 0:
            raise SurfaceInputError("temperature and weight decay: must be positive")
        if self.limit_left >= self.limit_right or self.limit_bottom >= self.limit_top:
            raise SurfaceInputError("limits: left must be below right and bottom below top")


@dataclass(frozen=True)
class Surface:
    """A computed surface: one row per grid point (a, b, log_likelihood, log_prior, log_posterior),
    the same for the three checkpoints at their coordinates, and where its files are."""

    grid: pd.DataFrame
    anchors: pd.DataFrame
    folder: Location

    @property
    def files(self) -> list[Location]:
        """The files written for it: the grid, the checkpoints' values, the settings, the figure."""
        files = SurfaceFiles(self.folder)
        return [files.grid, files.anchors, files.settings, files.plot]


def checkpoint_weights(
    storage: Location, name: str, train_inputs: torch.Tensor
) -> tuple[torch.Tensor, ModelRecipe, dict[str, torch.Tensor]]:
    """The weight vector named ``name`` (see the module docstring), its network's recipe, and the
    network's state (for buffers such as batch-norm statistics)."""
    parts = name.split(":")
    folder, sample = Location.parse(name), None
    if not folder.is_dir():
        if len(parts) not in (2, 3) or not all(p.lstrip("-").isdigit() for p in parts[1:]):
            raise SurfaceInputError(f"{name}: neither a checkpoint folder nor LABEL:SEED[:SAMPLE]")
        label, seed = parts[0], parts[1]
        sample = int(parts[2]) if len(parts) == 3 else None
        record_path = SweepLayout(storage).selection(label)
        if not record_path.is_file():
            raise SurfaceInputError(f"{name}: the sweep has no selection {label!r}")
        selection = Selection.load(record_path)
        if int(seed) not in selection.members:
            raise SurfaceInputError(f"{name}: selection {label!r} has no seed {seed}")
        cls = posterior_class(selection.method, selection.derived)
        folder = Location.parse(selection.members[int(seed)].checkpoint)
    else:
        try:
            cls = posterior_class(read_metadata(str(folder))["method"])
        except (CorruptCheckpointError, KeyError) as error:
            raise SurfaceInputError(f"{name}: not a checkpoint bdlsweep can read ({error})") from None
    posterior = cls.load(str(folder), "cpu", train_inputs)
    if getattr(posterior, "recipe", None) is None:
        raise SurfaceInputError(
            f"{name}: a {posterior.method} checkpoint is a distribution over a network's last layer, not a "
            "point in weight space; name the network it was fitted to (e.g. map:SEED)"
        )
    return _weights(posterior, name, sample), posterior.recipe, posterior.model.state_dict()


def _weights(posterior: Posterior, name: str, sample: int | None) -> torch.Tensor:
    """The network's weights, or its ``sample``-th kept weight sample."""
    if sample is None:
        return weight_vector(posterior.model.parameters()).detach().clone()
    samples = getattr(posterior, "samples", None)
    if samples is None:
        raise SurfaceInputError(f"{name}: a {posterior.method} checkpoint keeps no weight samples")
    if not 0 <= sample < len(samples):
        raise SurfaceInputError(f"{name}: sample {sample} of {len(samples)} kept samples")
    return samples[sample].detach().clone()


@ray.remote
def log_likelihoods(
    recipe: dict[str, Any],
    state: dict[str, torch.Tensor],
    plane: Subspace,
    coordinates: list[tuple[float, float]],
    dataset: str,
    dataset_options: dict[str, Any],
) -> list[float]:
    """Ray task: the training set's summed log-likelihood at each (a, b) of the plane (one grid row)."""
    device = trial_device()
    network_recipe = ModelRecipe.from_dict(recipe)
    model = network_recipe.build().to(device)
    model.load_state_dict(state)
    model.eval()
    train = load_dataset(dataset, dataset_options).train
    plane = Subspace(plane.shift.to(device), plane.basis.to(device))
    inputs, labels = train.inputs.to(device), train.labels.to(device)
    log_likelihood = full_batch_log_likelihood(model, plane, inputs, labels, network_recipe.output_model)
    return [log_likelihood(torch.tensor(point, dtype=torch.float64)) for point in coordinates]


def compute_surface(
    storage: Location, names: list[str], settings: SurfaceSettings, label: str = "surface", gpu: float = 0.0
) -> Surface:
    """The surface through the three checkpoints ``names`` of the sweep in ``storage``: computed with
    Ray tasks (Ray must be initialised) of ``gpu`` GPUs each, written to ``<storage>/surfaces/<label>/``."""
    if len(names) != 3:
        raise SurfaceInputError(f"checkpoints: three are needed (got {len(names)})")
    record = SweepLayout(storage).read_record()
    dataset, options = record["dataset"], record["dataset_options"]
    train_inputs = load_dataset(dataset, options).train.inputs
    loaded = [checkpoint_weights(storage, name, train_inputs) for name in names]
    if len({len(weights) for weights, _, _ in loaded}) != 1:
        raise SurfaceInputError("checkpoints: the three networks have different numbers of weights")
    try:
        plane, anchors = plane_through(*(weights.double() for weights, _, _ in loaded))
    except ValueError as error:
        raise SurfaceInputError(f"checkpoints: {error}") from None
    plane = Subspace(plane.shift.float(), plane.basis.float())
    recipe, state = loaded[0][1].to_dict(), loaded[0][2]
    a_values = np.linspace(settings.limit_left, settings.limit_right, settings.grid_size)
    b_values = np.linspace(settings.limit_bottom, settings.limit_top, settings.grid_size)
    rows = [[(float(a), float(b)) for b in b_values] for a in a_values] + [anchors.tolist()]
    shared = [ray.put(recipe), ray.put(state), ray.put(plane)]
    task = log_likelihoods.options(num_gpus=gpu)
    values = ray.get([task.remote(*shared, row, dataset, options) for row in rows])
    frames = [_densities(row, found, plane, settings) for row, found in zip(rows, values, strict=True)]
    grid = pd.concat(frames[:-1], ignore_index=True)
    anchor_frame = frames[-1].assign(checkpoint=names)
    files = SweepLayout(storage).surface(label)
    files.grid.write_text(grid.to_csv(index=False))
    files.anchors.write_text(anchor_frame.to_csv(index=False))
    files.settings.write_text(json.dumps({"checkpoints": names, **asdict(settings)}, indent=2))
    files.plot.write_bytes(plot_surface(grid, anchor_frame, settings.temperature))
    return Surface(grid, anchor_frame, files.folder)


def _densities(
    coordinates: list[tuple[float, float]],
    log_likelihood: list[float],
    plane: Subspace,
    settings: SurfaceSettings,
) -> pd.DataFrame:
    """Tempered log-likelihood, log-prior and their sum at each (a, b)."""
    temperature = settings.temperature
    prior = [
        gaussian_log_prior(plane.weights(torch.tensor(point)), settings.weight_decay) / temperature
        for point in coordinates
    ]
    frame = pd.DataFrame(coordinates, columns=["a", "b"])
    frame["log_likelihood"] = np.asarray(log_likelihood) / temperature
    frame["log_prior"] = prior
    frame["log_posterior"] = frame["log_likelihood"] + frame["log_prior"]
    return frame


def surface_study(
    storage: Location,
    record: dict[str, Any],
    names: list[str],
    settings: SurfaceSettings,
    label: str,
    gpu: float,
) -> tuple[Surface, str | None]:
    """``bdlsweep surface``: the surface through checkpoints ``names`` of the sweep in ``storage`` (its
    record, ``sweep.json``), computed with Ray tasks on the sweep's Ray and logged as an MLflow run under
    the sweep's; the surface and the run's id (None while the tracking server is away)."""
    with ray_for(record["ray"]["address"], record["ray"]["num_cpus"]):
        surface = compute_surface(storage, names, settings, label, gpu)
    metrics = {f"log_posterior_{i + 1}": float(v) for i, v in enumerate(surface.anchors["log_posterior"])}
    metrics["max_log_posterior"] = float(surface.grid["log_posterior"].max())
    params = {"checkpoints": " ".join(names), **asdict(settings)}
    logged = while_reachable(
        record["tracking_uri"],
        "surface not logged",
        lambda: log_study(record, "surface", label, params, metrics, surface.files, storage),
        "its files are in the storage folder",
    )
    return surface, logged
