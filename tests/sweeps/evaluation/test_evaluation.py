"""Evaluation as map (each member predicts once) and reduce (ensembles assembled from member summaries):
exact against a direct per-ensemble computation on the same samples, and through Ray tasks."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import logsumexp

from bdlsweep.metrics.reference_agreement import ReferencePredictive
from bdlsweep.storage.layout import SweepLayout
from bdlsweep.sweeps.evaluation.ensemble_assembly import assemble_streams, ensemble_draw, needed_lengths
from bdlsweep.sweeps.evaluation.evaluation_sets import evaluation_data
from bdlsweep.sweeps.evaluation.member_predictions import MemberJob, member_generator, predict_member
from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.inference.network_weights import predictive_outputs
from bdlsweep.trainables.methods.map import MAPPosterior
from bdlsweep.trainables.methods.mc_dropout import MCDropoutPosterior
from bdlsweep.trainables.posteriors.base import ModelRecipe

SETTINGS = {
    "num_posterior_samples": 6,
    "subsample_sizes": [3, 6],
    "stratified": True,
    "splits": ["test", "shift", "ood"],
    "seed": 0,
}
PLAN = [(1, 0, "2"), (3, 0, "1,2,3")]  # K = 1 and K = every seed


def _checkpoints(folder, dataset: str, posterior, options: dict) -> dict[int, str]:
    data = load_dataset(dataset, {})
    width = data.target_size if data.likelihood == "classification" else 2 * data.target_size
    recipe = ModelRecipe("mlp", {"hidden": [8], **options}, data.input_shape, width, data.likelihood)
    checkpoints = {}
    for seed in (1, 2, 3):
        torch.manual_seed(seed)
        checkpoints[seed] = str(posterior(recipe.build(), recipe).save(folder / f"{dataset}{seed}"))
    return checkpoints


class _Selection:
    """The part of a stage's selection that evaluation reads: method, derived name, checkpoints."""

    def __init__(self, method: str, checkpoints: dict[int, str]) -> None:
        self.method, self.derived, self._checkpoints = method, None, checkpoints

    def checkpoints(self) -> dict[int, str]:
        return self._checkpoints


def _stream(job: MemberJob, dataset: str, settings: dict) -> list:
    """Everything a member's map task yields, run in this process."""
    return list(predict_member(job, dataset, {}, settings))


def _in_process(label, method, dataset, checkpoints, settings, plan=PLAN, store=None):
    """Map then reduce without Ray: each member's stream (stored under ``store`` when given), then every
    group assembled; also the draws."""
    sampled = [ensemble_draw(label, *ensemble, settings, deterministic=False) for ensemble in plan]
    streams = {
        seed: _stream(
            MemberJob(
                label, method, None, seed, checkpoints[seed], lengths,
                store=None if store is None else str(store / f"{label}_{seed}"),
            ),
            dataset,
            settings,
        )
        for seed, lengths in needed_lengths(sampled).items()
    }  # fmt: skip
    deterministic = all(stream[0].deterministic for stream in streams.values())
    draws = [ensemble_draw(label, *ensemble, settings, deterministic) for ensemble in plan]
    return assemble_streams(evaluation_data(dataset, {}, settings["splits"]), draws, streams), draws


@pytest.mark.parametrize("dataset", ["digits", "diabetes"])
@pytest.mark.parametrize("stratified", [True, False])
def test_assembled_ensembles_equal_a_direct_computation_on_the_same_member_samples(
    tmp_path, dataset, stratified
):
    checkpoints = _checkpoints(tmp_path, dataset, MCDropoutPosterior, {"dropout": 0.3})
    settings = {**SETTINGS, "stratified": stratified, "splits": ["test"]}
    result, draws = _in_process("mc_dropout", "mc_dropout", dataset, checkpoints, settings)
    data = evaluation_data(dataset, {}, ["test"])
    test = data.set(0)
    members = {seed: MCDropoutPosterior.load(path) for seed, path in checkpoints.items()}
    for draw in draws:
        assert set(draw.seeds) <= set(members)
        for n in draw.sizes:
            samples = []
            for seed, count in draw.samples_per_member(n).items():
                generator = member_generator(torch.device("cpu"), settings["seed"], seed)
                samples.append(members[seed].predict(test.inputs, 6, generator)[:count])
            direct = data.likelihood.metrics(
                *data.likelihood.in_data_units(torch.cat(samples), test.labels, data.scale)
            )
            (row,) = [r for r in result.metrics if r["K"] == draw.key["K"] and r["num_samples"] == n]
            for name, value in direct.items():
                assert row[f"test_{name}"] == pytest.approx(value, rel=1e-6, abs=1e-9, nan_ok=True), name
    assert {row["num_samples"] for row in result.metrics} == {3, 6}


def test_a_member_predicts_its_samples_once_for_every_ensemble_and_prefix(tmp_path):
    checkpoints = _checkpoints(tmp_path, "digits", MCDropoutPosterior, {"dropout": 0.3})
    settings = {**SETTINGS, "num_posterior_samples": 9, "subsample_sizes": [3, 9], "splits": ["test"]}
    plan = [(1, 0, "1"), (1, 1, "2"), (2, 0, "1,2"), (3, 0, "1,2,3")]
    sampled = [ensemble_draw("mc_dropout", *ensemble, settings, deterministic=False) for ensemble in plan]
    lengths = needed_lengths(sampled)
    pair = sampled[2]  # K = 2, stratified: each member gives ⌊n/2⌋ or ⌈n/2⌉ of the first n samples
    assert sorted(pair.samples_per_member(3).values()) == [1, 2]
    assert sorted(pair.samples_per_member(9).values()) == [4, 5]
    expected = {seed: {9, 1, 3} for seed in (1, 2)} | {3: {1, 3}}  # K = 1 whole, K = 3 a third each
    for n in (3, 9):
        for seed, count in pair.samples_per_member(n).items():
            expected[seed].add(count)
    assert lengths == {seed: sorted(values) for seed, values in expected.items()}
    stream = _stream(
        MemberJob("mc_dropout", "mc_dropout", None, 3, checkpoints[3], [1, 3]), "digits", settings
    )
    assert len(stream) == 2 and not stream[0].deterministic
    assert sorted(stream[1][0]) == [1, 3] and stream[1][0][3].count == 3


def test_deterministic_members_are_predicted_once_and_ensembles_use_each_once(tmp_path):
    checkpoints = _checkpoints(tmp_path, "digits", MAPPosterior, {})
    data = load_dataset("digits", {})
    result, draws = _in_process("map", "map", "digits", checkpoints, SETTINGS, [(2, 1, "1,3")])
    test = [row for row in result.metrics if row["split"] == "test"]
    assert [row["num_samples"] for row in test] == [2] and draws[0].sizes == [2]
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
    shift = [row for row in result.metrics if row["split"] == "shift"]
    assert {(row["corruption"], row["severity"]) for row in shift} == set(data.shift)
    ood = [row for row in result.metrics if row["split"] == "ood"]
    assert len(ood) == 1 and 0.0 <= ood[0]["ood_auroc"] <= 1.0


def test_reliability_bins_and_ood_histograms_agree_with_the_metric_rows(tmp_path):
    from bdlsweep.analysis.diagnostic_plots import pooled_bins, pooled_ece

    checkpoints = _checkpoints(tmp_path, "digits", MAPPosterior, {})
    data = load_dataset("digits", {})
    result, _ = _in_process("map", "map", "digits", checkpoints, SETTINGS, [(1, 0, "1"), (3, 0, "1,2,3")])
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


def test_ray_tasks_give_the_in_process_rows_and_leave_out_unasked_splits(tmp_path, ray_session):
    from bdlsweep.sweeps.evaluation.map_reduce import evaluate_ensembles

    checkpoints = _checkpoints(tmp_path, "digits", MCDropoutPosterior, {"dropout": 0.3})
    plan = pd.DataFrame(PLAN, columns=["K", "ensemble_id", "model_ids"])
    selections = {"mc_dropout": _Selection("mc_dropout", checkpoints)}
    frames = evaluate_ensembles(selections, plan, "digits", {}, SETTINGS, {"cpu": 1})
    expected, _ = _in_process("mc_dropout", "mc_dropout", "digits", checkpoints, SETTINGS)
    pd.testing.assert_frame_equal(frames.ensembles, pd.DataFrame(expected.metrics))
    members = frames.members
    assert members["seed"].tolist() == [1, 2, 3] and (members["node_id"].str.len() > 0).all()
    assert not members["deterministic"].any() and (members["params"] == 64 * 8 + 8 + 8 * 10 + 10).all()
    only_test = evaluate_ensembles(
        selections, plan, "digits", {}, {**SETTINGS, "splits": ["test"]}, {"cpu": 1}
    )
    assert set(only_test.ensembles["split"]) == {"test"}
    layout = SweepLayout.at(tmp_path / "storage")
    for source in ("predicted", "reused"):  # the second time the map tasks stream the stored summaries
        stored = evaluate_ensembles(selections, plan, "digits", {}, SETTINGS, {"cpu": 1}, layout=layout)
        pd.testing.assert_frame_equal(stored.ensembles, frames.ensembles)
        assert (stored.members["source"] == source).all()


def test_groups_of_sets_fit_the_memory_budget_and_read_each_set_once(monkeypatch):
    from bdlsweep.sweeps.evaluation import evaluation_sets

    data = evaluation_data("digits", {}, ["test", "shift", "ood"])
    reads = []
    counted = [
        replace(entry, build=lambda entry=entry, i=i: reads.append(i) or entry.build())
        for i, entry in enumerate(data.entries)
    ]
    counting = replace(data, entries=counted)
    whole = list(counting.read_groups(6))
    assert [[index for index, _ in group] for group in whole] == [list(range(len(data.entries)))]
    assert reads == list(range(len(data.entries)))
    one = data.set(1)
    monkeypatch.setattr(evaluation_sets, "MEMORY_BUDGET_BYTES", 2 * one.inputs.nbytes)
    groups = [[index for index, _ in group] for group in data.read_groups(0)]
    assert len(groups) > 1 and all(len(group) <= 2 for group in groups)
    assert [index for group in groups for index in group] == list(range(len(data.entries)))


def test_stored_member_summaries_are_reused_while_they_hold_every_prefix_a_plan_reads(tmp_path, monkeypatch):
    from bdlsweep.sweeps.evaluation import member_predictions

    checkpoints = _checkpoints(tmp_path, "digits", MCDropoutPosterior, {"dropout": 0.3})
    store = tmp_path / "store"
    first, _ = _in_process("mc_dropout", "mc_dropout", "digits", checkpoints, SETTINGS, store=store)
    assert sorted(p.name for p in (store / "mc_dropout_1").iterdir()) == ["group_0.pt", "key.json"]
    loaded = []
    real = member_predictions.MemberStore.load

    def counting(self, *args):
        found = real(self, *args)
        loaded.append(found is not None)
        return found

    monkeypatch.setattr(member_predictions.MemberStore, "load", counting)
    again, _ = _in_process("mc_dropout", "mc_dropout", "digits", checkpoints, SETTINGS, store=store)
    assert loaded == [True, True, True]
    pd.testing.assert_frame_equal(pd.DataFrame(again.metrics), pd.DataFrame(first.metrics))
    loaded.clear()  # K = 2 reads 3 samples of seed 1 (stored: 1 and 2) and of seed 2 (stored: 1, 2, 3, 6)
    _in_process("mc_dropout", "mc_dropout", "digits", checkpoints, SETTINGS, [(2, 0, "1,2")], store=store)
    assert loaded == [False, True]
    loaded.clear()
    _in_process("mc_dropout", "mc_dropout", "digits", checkpoints, {**SETTINGS, "seed": 1}, store=store)
    assert loaded == [False, False, False]  # another sample seed: other samples


def test_stored_summaries_changed_by_hand_are_predicted_again_and_say_so(tmp_path):
    checkpoints = _checkpoints(tmp_path, "digits", MCDropoutPosterior, {"dropout": 0.3})
    stores = {seed: str(tmp_path / f"{seed}") for seed in (1, 2, 3)}
    jobs = [
        MemberJob("mc_dropout", "mc_dropout", None, seed, checkpoints[seed], [2, 4], store=store)
        for seed, store in stores.items()
    ]
    first = [_stream(job, "digits", SETTINGS) for job in jobs]
    assert [stream[0].source for stream in first] == ["predicted"] * 3
    (tmp_path / "1" / "key.json").write_text("{")
    (tmp_path / "2" / "group_0.pt").write_bytes(b"not a tensor file")
    again = [_stream(job, "digits", SETTINGS) for job in jobs]
    sources = [stream[0].source for stream in again]
    assert sources[0].startswith("predicted again (its stored summaries were unreadable: JSONDecodeError")
    assert sources[1].startswith("predicted again (its stored summaries were unreadable: ")
    assert sources[2] == "reused"
    for before, after in zip(first, again, strict=True):
        for index, summaries in before[1].items():
            for length, summary in summaries.items():
                for name, value in vars(summary).items():
                    again_value = getattr(after[1][index][length], name)
                    np.testing.assert_array_equal(np.asarray(again_value), np.asarray(value), err_msg=name)
    assert _stream(jobs[0], "digits", SETTINGS)[0].source == "reused"  # stored whole again


def _direct_predictive(likelihood, samples: torch.Tensor) -> dict[str, np.ndarray]:
    """The mixture's predictive computed directly: averaged probabilities, or the moment-matched Gaussian."""
    if likelihood.name == "classification":
        return {"probs": np.exp(samples.double().numpy()).mean(0)}
    means, variances = (part.double().numpy() for part in likelihood.split(samples))
    mean = means.mean(0)
    return {"mean": mean, "var": (variances + means**2).mean(0) - mean**2}


def _by_hand(predictive: dict, reference: dict, scale: float) -> dict[str, float]:
    """Agreement and TV, or the Gaussian W2 in data units, written out again from their definitions."""
    if "probs" in reference:
        p, q = predictive["probs"], reference["probs"]
        return {
            "agreement": float(np.mean(p.argmax(1) == q.argmax(1))),
            "total_variation": float(np.mean(np.abs(p - q).sum(1) / 2)),
        }
    gap = (predictive["mean"] - reference["mean"]) ** 2 + (
        np.sqrt(predictive["var"]) - np.sqrt(reference["var"])
    ) ** 2
    return {"wasserstein2": scale * float(np.mean(np.sqrt(gap.sum(1))))}


@pytest.mark.parametrize("dataset", ["digits", "diabetes"])
def test_a_method_as_its_own_reference_matches_it_exactly_and_its_chains_set_the_ceiling(tmp_path, dataset):
    checkpoints = _checkpoints(tmp_path, dataset, MCDropoutPosterior, {"dropout": 0.3})
    settings = {**SETTINGS, "splits": ["test"], "subsample_sizes": [3]}
    plan = [(1, 1, "1"), (1, 2, "2"), (1, 3, "3"), (3, 1, "1,2,3")]
    sampled = [ensemble_draw("mc_dropout", *ensemble, settings, deterministic=False) for ensemble in plan]
    streams = {
        seed: _stream(
            MemberJob("mc_dropout", "mc_dropout", None, seed, checkpoints[seed], lengths), dataset, settings
        )
        for seed, lengths in needed_lengths(sampled).items()
    }
    data = evaluation_data(dataset, {}, ["test"])
    result = assemble_streams(data, sampled, streams, builds_reference=True)
    test = data.set(0)
    members = {seed: MCDropoutPosterior.load(path) for seed, path in checkpoints.items()}

    def predictive(draw, n):
        samples = [
            members[seed].predict(test.inputs, 6, member_generator(torch.device("cpu"), 0, seed))[:count]
            for seed, count in draw.samples_per_member(n).items()
        ]
        return _direct_predictive(data.likelihood, torch.cat(samples))

    reference = predictive(sampled[-1], 6)
    for draw in sampled:
        for n in draw.sizes:
            (row,) = [
                r
                for r in result.metrics
                if r["K"] == draw.key["K"]
                and r["ensemble_id"] == draw.key["ensemble_id"]
                and r["num_samples"] == n
            ]
            for name, value in _by_hand(predictive(draw, n), reference, data.scale).items():
                assert row[f"test_{name}"] == pytest.approx(value, abs=1e-9), (draw.key, n, name)
    (itself,) = [r for r in result.metrics if r["K"] == 3 and r["num_samples"] == 6]
    closeness = {
        key: itself[key]
        for key in itself
        if key.startswith("test_") and key[5:] in ("agreement", "total_variation", "wasserstein2")
    }
    assert closeness in (
        {"test_agreement": 1.0, "test_total_variation": pytest.approx(0, abs=1e-12)},
        {"test_wasserstein2": pytest.approx(0, abs=1e-9)},
    )
    assert [(row["seed_a"], row["seed_b"]) for row in result.ceiling] == [(1, 2), (1, 3), (2, 3)]
    singles = {draw.seeds[0]: predictive(draw, 6) for draw in sampled[:3]}
    for row in result.ceiling:
        for name, value in _by_hand(singles[row["seed_a"]], singles[row["seed_b"]], data.scale).items():
            assert row[name] == pytest.approx(value, abs=1e-9)


def test_a_reference_file_covering_some_test_points_is_compared_on_those_only(tmp_path):
    checkpoints = _checkpoints(tmp_path, "digits", MAPPosterior, {})
    data = evaluation_data("digits", {}, ["test"])
    test = data.set(0)
    indices = np.arange(0, len(test), 3)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(10), size=len(indices))
    reference = ReferencePredictive("hmc.npz", {"probs": probs}, indices)
    plan = [(1, 1, "1"), (2, 1, "1,2")]
    draws = [ensemble_draw("map", *ensemble, SETTINGS, deterministic=True) for ensemble in plan]
    streams = {
        seed: _stream(MemberJob("map", "map", None, seed, checkpoints[seed], [1]), "digits", SETTINGS)
        for seed in (1, 2)
    }
    result = assemble_streams(evaluation_data("digits", {}, SETTINGS["splits"]), draws, streams, reference)
    outputs = {
        s: predictive_outputs(MAPPosterior.load(checkpoints[s]).model, test.inputs).numpy() for s in (1, 2)
    }
    for draw in draws:
        mixture = np.mean([np.exp(outputs[seed]) for seed in draw.seeds], axis=0)[indices]
        (row,) = [r for r in result.metrics if r["split"] == "test" and r["K"] == draw.key["K"]]
        expected = _by_hand({"probs": mixture}, {"probs": probs}, 1.0)
        assert row["test_agreement"] == pytest.approx(expected["agreement"])
        assert row["test_total_variation"] == pytest.approx(expected["total_variation"])
    assert all("test_agreement" not in row for row in result.metrics if row["split"] != "test")
    assert result.ceiling == []
