"""``bdlsweep prior``: the prior studies of Wilson & Izmailov (2020) for a sweep file's model and data,
before any training: networks drawn from N(0, variance · I) at several variances.

1-D regression sets: the induced sample functions over x (data units). Classification: histograms of
the top-class probability, the prior correlation diagram between classes (mean correlation of the
logits of images of two classes), and the correlation between each image's logits and its shifted
copy's, per corruption and severity. Files go to ``<storage>/prior/`` and an MLflow run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from bdlsweep.analysis.prior_plots import (
    plot_class_correlations,
    plot_prior_functions,
    plot_shift_correlations,
    plot_top_probabilities,
)
from bdlsweep.storage.layout import PriorStudyFiles
from bdlsweep.storage.locations import Location
from bdlsweep.sweeps.spec.models import SweepSpec
from bdlsweep.sweeps.tracking.records import log_study
from bdlsweep.sweeps.tracking.server_check import while_reachable
from bdlsweep.trainables.data import DatasetSplits, load_dataset
from bdlsweep.trainables.inference.likelihoods import LIKELIHOODS
from bdlsweep.trainables.inference.prior_predictive import (
    class_correlations,
    input_correlations,
    paired_correlation,
    prior_outputs,
)
from bdlsweep.trainables.posteriors.base import ModelRecipe
from bdlsweep.trainables.runtime.context import TrialContext

PROBABILITY_BINS = 20


@dataclass(frozen=True)
class PriorStudy:
    """Where the study's files are, by name, and its tables (also written as CSV)."""

    folder: Location
    files: dict[str, Location]
    tables: dict[str, pd.DataFrame]


def run_prior_study(
    spec: SweepSpec, variances: list[float], num_samples: int = 100, num_inputs: int = 200, seed: int = 0
) -> PriorStudy:
    """The prior studies of ``spec``'s model on its dataset at each prior variance."""
    splits = load_dataset(spec.dataset, spec.dataset_options)
    context = TrialContext(
        spec.name, spec.layout.prior.name, spec.dataset, spec.dataset_options, spec.model, spec.model_options
    )
    recipe = context.recipe(splits)
    if splits.curve is not None:
        tables = {"prior_functions": _functions(recipe, splits, variances, num_samples, seed)}
        figures = {
            "prior_functions": plot_prior_functions(
                tables["prior_functions"], splits.curve.train_x, splits.curve.train_y
            )
        }
    elif splits.likelihood == "classification":
        tables, figures = _classification(recipe, splits, variances, num_samples, num_inputs, seed)
    else:
        raise ValueError("prior studies need a classification set or a 1-D regression set")
    study_files = PriorStudyFiles(spec.layout.prior)
    written = [study_files.table(name).write_text(t.to_csv(index=False)) for name, t in tables.items()]
    written += [study_files.plot(name).write_bytes(image) for name, image in figures.items()]
    return PriorStudy(study_files.folder, {location.name: location for location in written}, tables)


def _functions(
    recipe: ModelRecipe, splits: DatasetSplits, variances: list[float], num_samples: int, seed: int
) -> pd.DataFrame:
    """Sample functions (the predictive mean output) over the curve's x in data units, per variance."""
    curve = splits.curve
    rows = []
    for variance in variances:
        outputs = prior_outputs(recipe.build(), curve.inputs, variance, num_samples, seed)
        means = LIKELIHOODS["regression"].split(outputs)[0][..., 0] * curve.target_scale + curve.target_mean
        for sample, values in enumerate(means.numpy()):
            rows += [
                {"variance": variance, "sample": sample, "x": x, "f": f}
                for x, f in zip(curve.x, values, strict=True)
            ]
    return pd.DataFrame(rows)


def _classification(
    recipe: ModelRecipe,
    splits: DatasetSplits,
    variances: list[float],
    num_samples: int,
    num_inputs: int,
    seed: int,
) -> tuple[dict[str, pd.DataFrame], dict[str, bytes]]:
    """Top-probability histograms, class correlation diagrams and clean-vs-shifted correlations."""
    inputs, labels = splits.test.inputs[:num_inputs], splits.test.labels[:num_inputs].numpy()
    classes = splits.target_size
    edges = np.linspace(1 / classes, 1, PROBABILITY_BINS + 1)
    histograms, diagrams, shifted = [], [], []
    for variance in variances:
        outputs = prior_outputs(recipe.build(), inputs, variance, num_samples, seed)
        top = torch.softmax(outputs.double(), dim=-1).max(dim=-1).values.numpy().ravel()
        counts = np.histogram(np.clip(top, edges[0], edges[-1]), bins=edges)[0]
        histograms += [
            {"variance": variance, "lower": edges[b], "upper": edges[b + 1], "count": int(count)}
            for b, count in enumerate(counts)
        ]
        table = class_correlations(input_correlations(outputs), labels, classes)
        diagrams += [
            {"variance": variance, "class_i": i, "class_j": j, "correlation": table[i, j]}
            for i in range(classes)
            for j in range(classes)
        ]
        for (corruption, severity), shifted_set in splits.shift.items():
            copy = prior_outputs(recipe.build(), shifted_set.inputs[:num_inputs], variance, num_samples, seed)
            correlation = paired_correlation(outputs, copy)
            shifted.append(
                {
                    "variance": variance,
                    "corruption": corruption,
                    "severity": severity,
                    "correlation": correlation,
                }
            )
    tables = {
        "prior_top_probability": pd.DataFrame(histograms),
        "prior_class_correlations": pd.DataFrame(diagrams),
    }
    figures = {
        "prior_top_probability": plot_top_probabilities(tables["prior_top_probability"]),
        "prior_class_correlations": plot_class_correlations(tables["prior_class_correlations"]),
    }
    if shifted:
        tables["prior_shift_correlations"] = pd.DataFrame(shifted)
        figures["prior_shift_correlations"] = plot_shift_correlations(tables["prior_shift_correlations"])
    return tables, figures


def logged_prior_study(
    spec: SweepSpec, variances: list[float], num_samples: int, num_inputs: int
) -> tuple[PriorStudy, str | None]:
    """``bdlsweep prior``: ``run_prior_study`` logged as an MLflow run under the sweep's; the study and
    the run's id (None while the tracking server is away)."""
    study = run_prior_study(spec, variances, num_samples, num_inputs)
    record = {
        "name": spec.name,
        "storage": str(spec.storage),
        "tracking_uri": spec.tracking_uri,
        "experiment": spec.experiment,
    }
    params = {
        "variances": " ".join(f"{v:g}" for v in variances),
        "samples": num_samples,
        "inputs": num_inputs,
    }
    files = list(study.files.values())
    logged = while_reachable(
        spec.tracking_uri,
        "prior study not logged",
        lambda: log_study(record, "prior", "prior", params, {}, files, spec.storage),
        "its files are in the storage folder",
    )
    return study, logged
