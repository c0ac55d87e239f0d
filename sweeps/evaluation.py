"""Ensemble evaluation with Ray actors: each actor loads one method's selected members once.

For every ensemble it draws the posterior samples (stratified across members when asked),
predicts on the test, shifted and OOD sets with the same samples, and computes every metric of
the dataset's likelihood at each subsample size (OOD scores: predictive entropy, or total
variance for regression), with the ensemble's weights and FLOPs per prediction beside the test
metrics. Single models (K = 1) go through the same path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import ray
import torch
from ray.util import ActorPool

from bdlsweep.analysis import metrics, regression_metrics
from bdlsweep.analysis.complexity import SampleCost, num_parameters, posterior_cost
from bdlsweep.sweeps.ensemble_plan import members_of
from bdlsweep.sweeps.stratified import draw_members
from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.data.molecules import Molecules, concat_inputs
from bdlsweep.trainables.inference.likelihoods import LIKELIHOODS
from bdlsweep.trainables.registry import posterior_class
from bdlsweep.trainables.runtime.training import trial_device

MEMORY_BUDGET_BYTES = 1 << 30
FLOP_PROBE_INPUTS = 16


def _generator_seed(*parts: int) -> int:
    return int(np.random.SeedSequence([abs(int(p)) for p in parts]).generate_state(1)[0])


def _prefixed(split: str, values: dict[str, float]) -> dict[str, float]:
    return {f"{split}_{name}": value for name, value in values.items()}


@dataclass(frozen=True)
class _Draw:
    """One ensemble's identity columns, members, per-sample member index and subsample sizes."""

    key: dict[str, Any]
    seeds: list[int]
    draws: np.ndarray
    sizes: list[int]
    ensemble_seed: int

    def row(self, num_samples: int) -> dict[str, Any]:
        return {**self.key, "num_samples": num_samples}

    def samples_per_member(self, num_samples: int) -> dict[int, int]:
        """Seed → how many of the first ``num_samples`` draws each member gives (those giving some)."""
        counts = np.bincount(self.draws[:num_samples], minlength=len(self.seeds))
        return {seed: int(count) for seed, count in zip(self.seeds, counts, strict=True) if count > 0}


@dataclass(frozen=True)
class _EvalSet:
    """One evaluation set: its split, identifying columns, inputs and labels (None for OOD)."""

    split: str
    where: dict[str, Any]
    inputs: torch.Tensor | Molecules
    labels: np.ndarray | None
    score: bool = True

    def __len__(self) -> int:
        return len(self.inputs)


@dataclass
class Evaluation:
    """Rows of an evaluation: metrics per ensemble, subsample size and split; and, at each ensemble's full
    sample count, test-set reliability bins and OOD-score histograms of the test and OOD sets."""

    metrics: list[dict[str, Any]] = field(default_factory=list)
    reliability: list[dict[str, Any]] = field(default_factory=list)
    score_histograms: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class EvaluationFrames:
    """An evaluation as tables: metrics per ensemble (``ensembles.csv``), reliability bins, OOD-score
    histograms, and the predictive curves over a 1-D input grid where asked for."""

    ensembles: pd.DataFrame
    reliability: pd.DataFrame
    score_histograms: pd.DataFrame
    curves: pd.DataFrame | None


class EnsembleEvaluator:
    """Holds the evaluation sets and one method's selected members at a time; scores ensembles of them."""

    def __init__(self, dataset: str, dataset_options: dict[str, Any], settings: dict[str, Any]) -> None:
        self.settings = settings
        self.device = trial_device()
        data = load_dataset(dataset, dataset_options)
        self.train_inputs = data.train.inputs.to(self.device)
        self.label = ""
        self.members: dict[int, Any] = {}
        self.costs: dict[int, SampleCost] = {}
        self.params: dict[int, int] = {}
        self.likelihood = LIKELIHOODS[data.likelihood]
        self.width = self.likelihood.num_outputs(data.target_size)
        self.scale = data.target_scale
        self.test = (data.test.inputs.to(self.device), data.test.labels.numpy())
        splits = settings["splits"]
        self.shift = data.shift if "shift" in splits else {}
        self.ood = data.ood if "ood" in splits else {}
        self.curve = data.curve

    def load_members(self, label: str, method: str, derived: str | None, checkpoints: dict[int, str]) -> None:
        """Load a method's selected members (seed → checkpoint), replacing the previous method's."""
        self.members = {}  # the previous method's networks are freed before the next ones load
        cls = posterior_class(method, derived)
        self.members = {
            seed: cls.load(folder, self.device, self.train_inputs) for seed, folder in checkpoints.items()
        }
        self.label = label
        probe = self.test[0][:FLOP_PROBE_INPUTS]
        self.costs = {
            seed: posterior_cost(member, probe, lambda: torch.Generator(self.device).manual_seed(0))
            for seed, member in self.members.items()
        }
        self.params = {seed: num_parameters(member.model) for seed, member in self.members.items()}

    def evaluate_method(
        self,
        job: tuple[str, str, str | None, dict[int, str]],
        plan: list[tuple[int, int, str]],
        curve_members: str | None,
    ) -> tuple[Evaluation, pd.DataFrame | None]:
        """Every ensemble in ``plan`` of one method (``job``: label, method, derived, checkpoints), and its
        predictive curve over the 1-D input grid for the ensemble ``curve_members`` when given."""
        self.load_members(*job)
        curve = None if curve_members is None else self.predictive_curve(curve_members)
        return self.evaluate_plan(plan), curve

    def _outputs(self, inputs, seeds, draws, ensemble_seed) -> torch.Tensor:
        """Per-sample predictives ``[S, N, K]`` in draw order; samples fixed per member."""
        outputs = None
        for index, seed in enumerate(seeds):
            count = int(np.sum(draws == index))
            if count == 0:
                continue
            generator = torch.Generator(device=self.device)
            generator.manual_seed(_generator_seed(ensemble_seed, seed))
            member = self.members[seed].predict(inputs.to(self.device), count, generator).cpu()
            if outputs is None:
                outputs = torch.empty(len(draws), *member.shape[1:])
            outputs[torch.from_numpy(draws == index)] = member
        return outputs

    def _draw(self, size: int, ensemble_id: int, model_ids: str) -> _Draw:
        """Which member gives each posterior sample of one ensemble, and the subsample sizes to score."""
        seeds = members_of(model_ids)
        ensemble_seed = _generator_seed(self.settings["seed"], size, ensemble_id)
        if all(self.members[seed].deterministic for seed in seeds):
            draws, sizes = np.arange(len(seeds)), [len(seeds)]
        else:
            total = self.settings["num_posterior_samples"]
            rng = np.random.default_rng(ensemble_seed)
            draws = draw_members(len(seeds), total, self.settings["stratified"], rng)
            sizes = sorted({n for n in self.settings["subsample_sizes"] if n <= total} | {total})
        key = {"method": self.label, "K": size, "ensemble_id": ensemble_id, "members": model_ids}
        return _Draw(key, seeds, draws, sizes, ensemble_seed)

    def _complexity(self, draw: _Draw, num_samples: int) -> dict[str, float]:
        """Weights of the members the first ``num_samples`` draws use, and FLOPs per prediction."""
        used = draw.samples_per_member(num_samples)
        return {
            "params": float(sum(self.params[seed] for seed in used)),
            "flops": float(sum(self.costs[seed].at(count) for seed, count in used.items())),
        }

    def _predict(self, inputs: torch.Tensor, draw: _Draw) -> torch.Tensor:
        return self._outputs(inputs, draw.seeds, draw.draws, draw.ensemble_seed)

    def evaluate(self, size: int, ensemble_id: int, model_ids: str) -> list[dict[str, Any]]:
        """Metric rows of one ensemble: per subsample size and per split (test, shift, ood)."""
        return self.evaluate_plan([(size, ensemble_id, model_ids)]).metrics

    def _sets(self) -> Iterator[_EvalSet]:
        """The test set, then each shifted and OOD set, each read only when reached."""
        splits = self.settings["splits"]
        yield _EvalSet("test", {}, self.test[0], self.test[1], score="test" in splits)
        for (corruption, severity), shifted in self.shift.items():
            where = {"corruption": corruption, "severity": severity}
            yield _EvalSet("shift", where, shifted.inputs, shifted.labels.numpy())
        for name, inputs in self.ood.items():
            yield _EvalSet("ood", {"ood_set": name}, inputs, None)

    def _groups(self) -> Iterator[list[_EvalSet]]:
        """Consecutive sets whose inputs and outputs together fit ``MEMORY_BUDGET_BYTES``."""
        samples = max(self.settings["num_posterior_samples"], len(self.members))
        group: list[_EvalSet] = []
        used = 0
        for item in self._sets():
            cost = item.inputs.nbytes + 4 * samples * len(item) * self.width
            if group and used + cost > MEMORY_BUDGET_BYTES:
                yield group
                group, used = [], 0
            group.append(item)
            used += cost
        if group:
            yield group

    def _rows(self, item: _EvalSet, out: torch.Tensor, draw: _Draw, in_scores: dict, result: Evaluation):
        """Metric rows of one set's outputs ``[S, N, K]`` at each subsample size, and at the full size
        its reliability bins (test) and OOD-score histogram (test, ood), added to ``result``."""
        for n in draw.sizes:
            scores = None if item.split == "shift" else self.likelihood.ood_score(out[:n])
            if item.split == "test":
                in_scores[n] = scores
            if n == draw.sizes[-1] and scores is not None:
                self._diagnostics(item, out, draw, scores, result)
            if item.split == "test" and not item.score:
                continue
            if item.split == "ood":
                values = metrics.ood_metrics(in_scores[n], scores)
            else:
                values = self.likelihood.metrics(
                    *self.likelihood.in_data_units(out[:n], item.labels, self.scale)
                )
            if item.split == "test":
                values.update(self._complexity(draw, n))
            row = {**draw.row(n), "split": item.split, **item.where, **_prefixed(item.split, values)}
            result.metrics.append(row)

    def _diagnostics(self, item: _EvalSet, out: torch.Tensor, draw: _Draw, scores, result: Evaluation):
        """The set's OOD-score histogram and, for the scored test set, its reliability bins."""
        key = {**draw.row(draw.sizes[-1]), "split": item.split}
        edges = self.likelihood.ood_score_edges(self.width)
        counts = metrics.score_histogram(scores, edges)
        named = {"ood_set": item.where.get("ood_set", ""), "score": self.likelihood.ood_score_name}
        result.score_histograms += [
            {**key, **named, "bin": b, "lower": edges[b], "upper": edges[b + 1], "count": int(count)}
            for b, count in enumerate(counts)
        ]
        if item.labels is None or not item.score:
            return
        bins = self.likelihood.reliability(out, item.labels)
        if bins is not None:
            table = pd.DataFrame({**key, "bin": range(len(bins["count"])), **bins})
            result.reliability += table.to_dict("records")

    def predictive_curve(self, model_ids: str) -> pd.DataFrame:
        """The ensemble's predictive mean and std (a mixture over all its samples) over the dataset's 1-D
        input grid, in data units: columns method, K, x, mean, std."""
        if self.curve is None:
            raise ValueError("the dataset has no 1-D input grid to draw a predictive over")
        seeds = members_of(model_ids)
        draw = self._draw(len(seeds), 0, model_ids)
        mean, variance = regression_metrics.predictive_moments(
            *self.likelihood.split(self._predict(self.curve.inputs, draw))
        )
        return pd.DataFrame(
            {
                "method": self.label,
                "K": len(seeds),
                "x": self.curve.x,
                "mean": mean[:, 0] * self.curve.target_scale + self.curve.target_mean,
                "std": np.sqrt(variance[:, 0]) * self.curve.target_scale,
            }
        )

    def evaluate_plan(self, plan: list[tuple[int, int, str]]) -> Evaluation:
        """Rows of every ensemble in ``plan`` (K, ensemble_id, model_ids).

        The sets are read in groups that fit a memory budget; per group, every ensemble predicts
        all its sets in one call (one weight sample, and one batch-norm update, per posterior
        sample), and the same samples serve every set.
        """
        draws = [self._draw(*ensemble) for ensemble in plan]
        in_scores: list[dict[int, Any]] = [{} for _ in draws]
        result = Evaluation()
        for group in self._groups():
            inputs = concat_inputs([item.inputs.to(self.device) for item in group])
            for draw, scores in zip(draws, in_scores, strict=True):
                outputs = self._predict(inputs, draw).split([len(item) for item in group], dim=1)
                for item, out in zip(group, outputs, strict=True):
                    self._rows(item, out, draw, scores, result)
        return result


def evaluate_ensembles(
    selections: dict[str, Any],
    plan: pd.DataFrame,
    dataset: str,
    dataset_options: dict[str, Any],
    settings: dict[str, Any],
    resources: dict[str, float],
    curve_members: str | None = None,
) -> EvaluationFrames:
    """A pool of Ray actors, as many as the cluster holds at once (at most one per method), each
    loading the evaluation sets once and then evaluating whole methods, one after another.

    With ``curve_members`` (model ids), each method also draws that ensemble's predictive over the
    dataset's 1-D input grid.
    """
    actor_class = ray.remote(EnsembleEvaluator).options(
        num_cpus=resources.get("cpu", 1),
        num_gpus=resources.get("gpu", 0),
        resources={k: v for k, v in resources.items() if k not in {"cpu", "gpu"}} or None,
    )
    ensembles = list(plan[["K", "ensemble_id", "model_ids"]].itertuples(index=False, name=None))
    jobs = [(label, s.method, s.derived, s.checkpoints()) for label, s in selections.items()]
    size = min(len(jobs), concurrent_actors(resources, len(jobs)))
    pool = ActorPool([actor_class.remote(dataset, dataset_options, settings) for _ in range(size)])
    outcomes = list(
        pool.map(lambda actor, job: actor.evaluate_method.remote(job, ensembles, curve_members), jobs)
    )
    evaluations = [evaluation for evaluation, _ in outcomes]
    curves = [curve for _, curve in outcomes if curve is not None]
    return EvaluationFrames(
        pd.DataFrame([row for part in evaluations for row in part.metrics]),
        pd.DataFrame([row for part in evaluations for row in part.reliability]),
        pd.DataFrame([row for part in evaluations for row in part.score_histograms]),
        pd.concat(curves, ignore_index=True) if curves else None,
    )


def concurrent_actors(resources: dict[str, float], absent: int) -> int:
    """How many actors asking for ``resources`` the Ray cluster holds at once (at least 1); ``absent``
    when it has none of a requested resource yet (an autoscaler adds nodes as the actors wait)."""
    total = ray.cluster_resources()
    available = {name: total.get({"cpu": "CPU", "gpu": "GPU"}.get(name, name), 0.0) for name in resources}
    requested = {name: amount for name, amount in resources.items() if amount > 0}
    if any(available[name] == 0 for name in requested):
        return absent
    return max(1, min((int(available[name] // amount) for name, amount in requested.items()), default=absent))
