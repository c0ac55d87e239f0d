"""The evaluation actor's maths, run in-process: ensembles of fixed-weight members match direct sums."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import logsumexp

from bdlsweep.sweeps.evaluation import EnsembleEvaluator
from bdlsweep.sweeps.stratified import draw_members
from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.methods.map import MAPPosterior
from bdlsweep.trainables.posteriors.base import ModelRecipe
from bdlsweep.trainables.runtime.training import predictive_outputs

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


def _evaluator(label: str, checkpoints: dict, settings: dict) -> EnsembleEvaluator:
    """An evaluator on digits holding the MAP members ``checkpoints`` under the name ``label``."""
    evaluator = EnsembleEvaluator("digits", {}, settings)
    evaluator.load_members(label, "map", None, checkpoints)
    return evaluator


def test_deterministic_ensemble_uses_each_member_once(members):
    data, checkpoints = members
    evaluator = _evaluator("map", checkpoints, SETTINGS)
    rows = evaluator.evaluate(2, 1, "1,3")
    test = [row for row in rows if row["split"] == "test"]
    assert [row["num_samples"] for row in test] == [2]
    outputs = np.stack(
        [
            predictive_outputs(MAPPosterior.load(checkpoints[s]).model, data.test.inputs).numpy()
            for s in (1, 3)
        ]
    )
    labels = data.test.labels.numpy()
    averaged = logsumexp(outputs, axis=0) - np.log(2)
    assert test[0]["test_elpd"] == pytest.approx(averaged[np.arange(len(labels)), labels].mean(), abs=1e-6)
    assert test[0]["test_acc"] == pytest.approx((averaged.argmax(1) == labels).mean())
    assert test[0]["test_params"] == 2 * (64 * 8 + 8 + 8 * 10 + 10)  # two 64-8-10 MLPs
    assert test[0]["test_flops"] == 2 * 2 * (64 * 8 + 8 * 10)  # one forward pass each per prediction
    shift = [row for row in rows if row["split"] == "shift"]
    assert len(shift) == len(data.shift)
    assert {(row["corruption"], row["severity"]) for row in shift} == set(data.shift)
    ood = [row for row in rows if row["split"] == "ood"]
    assert len(ood) == 1 and 0.0 <= ood[0]["ood_auroc"] <= 1.0


def test_splits_can_be_left_out(members):
    _, checkpoints = members
    evaluator = _evaluator("map", checkpoints, {**SETTINGS, "splits": ["test"]})
    assert {row["split"] for row in evaluator.evaluate(1, 1, "2")} == {"test"}


class _MemberSpy:
    """A stochastic member whose every sample is a distinct, recognisable constant."""

    deterministic = False

    def __init__(self, index: int) -> None:
        self.index = index
        self.requests: list[int] = []

    def predict(self, inputs, num_samples, generator):
        self.requests.append(num_samples)
        outputs = torch.full((num_samples, len(inputs), 10), float(self.index))
        outputs[:, :, 0] = torch.arange(num_samples, dtype=torch.float32)[:, None]
        return outputs


def test_stratified_ensemble_draws_s_over_k_samples_per_member_in_draw_order(members):
    data, checkpoints = members
    settings = {**SETTINGS, "num_posterior_samples": 9, "subsample_sizes": [3, 9], "splits": ["test"]}
    evaluator = _evaluator("swag", checkpoints, settings)
    spies = {seed: _MemberSpy(seed) for seed in (1, 2, 3)}
    evaluator.members = spies
    rng = np.random.default_rng(0)
    draws = draw_members(3, 9, True, rng)
    outputs = evaluator._outputs(data.test.inputs[:4], [1, 2, 3], draws, ensemble_seed=5)
    assert [spy.requests for spy in spies.values()] == [[3], [3], [3]]
    assert outputs.shape == (9, 4, 10)
    for position, member in enumerate(draws):
        assert outputs[position, 0, 1] == member + 1
    for member in range(3):
        rows = outputs[torch.from_numpy(draws == member), 0, 0]
        assert torch.equal(rows, torch.arange(3, dtype=torch.float32))

    rows = evaluator.evaluate(3, 1, "1,2,3")
    assert sorted({row["num_samples"] for row in rows}) == [3, 9]
    assert [sum(spy.requests[1:]) for spy in spies.values()] == [3, 3, 3]


def test_reliability_bins_and_ood_histograms_agree_with_the_metric_rows(members):
    from bdlsweep.analysis.diagnostic_plots import pooled_bins, pooled_ece

    data, checkpoints = members
    evaluator = _evaluator("map", checkpoints, SETTINGS)
    result = evaluator.evaluate_plan([(1, 0, "1"), (3, 0, "1,2,3")])
    reliability = pd.DataFrame(result.reliability)
    histograms = pd.DataFrame(result.score_histograms)
    for size in (1, 3):
        test_row = next(row for row in result.metrics if row["split"] == "test" and row["K"] == size)
        bins = reliability[reliability["K"] == size]
        assert len(bins) == 15 and bins["count"].sum() == len(data.test.labels)
        assert pooled_ece(pooled_bins(bins)) == pytest.approx(test_row["test_ece"])
        counts = histograms[histograms["K"] == size].groupby(["split", "ood_set"])["count"].sum()
        (ood_name,) = data.ood
        assert counts[("test", "")] == len(data.test.labels)
        assert counts[("ood", ood_name)] == len(data.ood[ood_name])
    edges = histograms[histograms["K"] == 1].groupby("bin")[["lower", "upper"]].first()
    assert edges["lower"].iloc[0] == 0 and edges["upper"].iloc[-1] == pytest.approx(np.log(10))


def test_the_actor_pool_is_as_large_as_the_cluster_holds(ray_session):
    from bdlsweep.sweeps.evaluation import concurrent_actors

    assert ray_session.cluster_resources()["CPU"] == 2
    assert concurrent_actors({"cpu": 1, "gpu": 0}, absent=6) == 2
    assert concurrent_actors({"cpu": 0.5}, absent=6) == 4
    assert concurrent_actors({"cpu": 3}, absent=6) == 1  # too large: one actor waits, as Ray decides
    assert concurrent_actors({"cpu": 1, "accel": 1}, absent=6) == 6  # none yet: an autoscaler adds nodes
