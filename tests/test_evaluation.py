"""The evaluation actor's maths, run in-process: ensembles of fixed-weight members match direct sums."""

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from bdlsweep.sweeps.evaluation import EnsembleEvaluator
from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.map import MAPPosterior
from bdlsweep.trainables.posterior import ModelRecipe
from bdlsweep.trainables.training import log_probs

SETTINGS = {
    "num_posterior_samples": 6,
    "subsample_sizes": [3, 6],
    "stratified": True,
    "splits": ["test", "shift", "ood"],
    "seed": 0,
}


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    folder = tmp_path_factory.mktemp("members")
    data = load_dataset("digits", {})
    recipe = ModelRecipe("mlp", {"hidden": [8]}, data.input_shape, 10)
    checkpoints = {}
    for seed in (1, 2, 3):
        torch.manual_seed(seed)
        checkpoints[seed] = str(MAPPosterior(recipe.build(), recipe).save(folder / f"map{seed}"))
    return data, checkpoints


def test_deterministic_ensemble_uses_each_member_once(members):
    data, checkpoints = members
    evaluator = EnsembleEvaluator("map", "map", None, checkpoints, "digits", {}, SETTINGS)
    rows = evaluator.evaluate(2, 1, "1,3")
    test = [row for row in rows if row["split"] == "test"]
    assert [row["num_samples"] for row in test] == [2]
    outputs = np.stack(
        [log_probs(MAPPosterior.load(checkpoints[s]).model, data.test.inputs).numpy() for s in (1, 3)]
    )
    labels = data.test.labels.numpy()
    averaged = logsumexp(outputs, axis=0) - np.log(2)
    assert test[0]["test_elpd"] == pytest.approx(averaged[np.arange(len(labels)), labels].mean(), abs=1e-6)
    assert test[0]["test_acc"] == pytest.approx((averaged.argmax(1) == labels).mean())
    shift = [row for row in rows if row["split"] == "shift"]
    assert len(shift) == len(data.shift)
    assert {(row["corruption"], row["severity"]) for row in shift} == set(data.shift)
    ood = [row for row in rows if row["split"] == "ood"]
    assert len(ood) == 1 and 0.0 <= ood[0]["ood_auroc"] <= 1.0


def test_splits_can_be_left_out(members):
    _, checkpoints = members
    evaluator = EnsembleEvaluator(
        "map", "map", None, checkpoints, "digits", {}, {**SETTINGS, "splits": ["test"]}
    )
    assert {row["split"] for row in evaluator.evaluate(1, 1, "2")} == {"test"}
