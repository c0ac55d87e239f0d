"""The reduce step of evaluation: each ensemble's mixture assembled exactly from its members' summaries.

An ensemble's draw says which member gives each of its posterior samples (stratified across members
when asked). Member m's samples are one fixed sequence, so the first n draws use the first c_m(n)
samples of each member m, and the mixture at n is the pool of those members' prefix summaries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from bdlsweep.analysis.complexity import SampleCost
from bdlsweep.metrics import classification
from bdlsweep.metrics.reference_agreement import ReferencePredictive
from bdlsweep.sweeps.evaluation.evaluation_sets import EvalSet, EvaluationData
from bdlsweep.sweeps.evaluation.stratified import draw_members
from bdlsweep.sweeps.reading.ensemble_members import members_of


def generator_seed(*parts: int) -> int:
    """A 32-bit seed from integers (the evaluation seed, an ensemble's size and id, a member's seed)."""
    return int(np.random.SeedSequence([abs(int(p)) for p in parts]).generate_state(1)[0])


@dataclass(frozen=True)
class EnsembleDraw:
    """One ensemble's identity columns, members, per-sample member index and subsample sizes."""

    key: dict[str, Any]
    seeds: list[int]
    draws: np.ndarray
    sizes: list[int]

    def row(self, num_samples: int) -> dict[str, Any]:
        return {**self.key, "num_samples": num_samples}

    def samples_per_member(self, num_samples: int) -> dict[int, int]:
        """Seed → how many of the first ``num_samples`` draws each member gives (those giving some)."""
        counts = np.bincount(self.draws[:num_samples], minlength=len(self.seeds))
        return {seed: int(count) for seed, count in zip(self.seeds, counts, strict=True) if count > 0}


def ensemble_draw(
    label: str, size: int, ensemble_id: int, model_ids: str, settings: dict[str, Any], deterministic: bool
) -> EnsembleDraw:
    """Which member gives each posterior sample of one ensemble, and the subsample sizes to score:
    deterministic members once each; sampled ones over ``num_posterior_samples`` draws."""
    seeds = members_of(model_ids)
    if deterministic:
        draws, sizes = np.arange(len(seeds)), [len(seeds)]
    else:
        total = settings["num_posterior_samples"]
        rng = np.random.default_rng(generator_seed(settings["seed"], size, ensemble_id))
        draws = draw_members(len(seeds), total, settings["stratified"], rng)
        sizes = sorted({n for n in settings["subsample_sizes"] if n <= total} | {total})
    key = {"method": label, "K": size, "ensemble_id": ensemble_id, "members": model_ids}
    return EnsembleDraw(key, seeds, draws, sizes)


def needed_lengths(draws: list[EnsembleDraw]) -> dict[int, list[int]]:
    """Seed → the prefix lengths of its samples that the draws read, over every ensemble and size."""
    lengths: dict[int, set[int]] = {}
    for draw in draws:
        for n in draw.sizes:
            for seed, count in draw.samples_per_member(n).items():
                lengths.setdefault(seed, set()).add(count)
    return {seed: sorted(values) for seed, values in lengths.items()}


@dataclass(frozen=True)
class MemberInfo:
    """What the map step learnt of a member: whether it is deterministic, its weights and FLOP cost,
    the Ray node that predicted it, and how its summaries were had (predicted, reused from the
    store, or predicted again because the stored ones were unreadable)."""

    deterministic: bool
    params: int
    cost: SampleCost
    node_id: str
    source: str = "predicted"


def mixture(
    likelihood: Any,
    draw: EnsembleDraw,
    num_samples: int,
    infos: dict[int, MemberInfo],
    prefix: Callable[[int, int], Any],
) -> Any:
    """The pool of the first ``num_samples`` draws of ``draw``: each sampled member's first c samples
    (``prefix(seed, c)``, summaries or samples), a deterministic member's one prediction repeated c times."""
    parts = [
        likelihood.repeat(prefix(seed, 1), count) if infos[seed].deterministic else prefix(seed, count)
        for seed, count in draw.samples_per_member(num_samples).items()
    ]
    return likelihood.pool(parts)


@dataclass
class Evaluation:
    """Rows of an evaluation: metrics per ensemble, subsample size and split; at each ensemble's full
    sample count, test-set reliability bins and OOD-score histograms of the test and OOD sets; and the
    reference method's single members measured against each other (``ceiling``)."""

    metrics: list[dict[str, Any]] = field(default_factory=list)
    reliability: list[dict[str, Any]] = field(default_factory=list)
    score_histograms: list[dict[str, Any]] = field(default_factory=list)
    ceiling: list[dict[str, Any]] = field(default_factory=list)

    def extend(self, other: Evaluation) -> None:
        self.metrics += other.metrics
        self.reliability += other.reliability
        self.score_histograms += other.score_histograms
        self.ceiling += other.ceiling


@dataclass
class GroupAssembly:
    """Scores every ensemble of one method on one group of sets from its members' summaries
    (``summaries``: seed → set index → prefix length → summary), on the test set also against a
    reference posterior's predictive: ``reference``, or, where ``builds_reference``, this method's own
    first ensemble of the largest K at all its samples."""

    data: EvaluationData
    draws: list[EnsembleDraw]
    infos: dict[int, MemberInfo]
    summaries: dict[int, dict[int, dict[int, Any]]]
    in_scores: list[dict[int, np.ndarray]]
    reference: ReferencePredictive | None = None
    builds_reference: bool = False
    result: Evaluation = field(default_factory=Evaluation)

    def mixture(self, draw: EnsembleDraw, index: int, num_samples: int) -> Any:
        """The summary of the first ``num_samples`` draws of ``draw`` on set ``index``."""
        return mixture(
            self.data.likelihood,
            draw,
            num_samples,
            self.infos,
            lambda seed, c: self.summaries[seed][index][c],
        )

    def complexity(self, draw: EnsembleDraw, num_samples: int) -> dict[str, float]:
        """Weights of the members the first ``num_samples`` draws use, and FLOPs per prediction."""
        used = draw.samples_per_member(num_samples)
        return {
            "params": float(sum(self.infos[seed].params for seed in used)),
            "flops": float(sum(self.infos[seed].cost.at(count) for seed, count in used.items())),
        }

    def assemble(self, indices: list[int]) -> Evaluation:
        """Metric rows (and diagnostics) of every ensemble on the sets ``indices``, test set first."""
        for index in indices:
            item = self.data.set(index)
            if item.split == "test" and self.builds_reference:
                self._build_reference(index)
            for draw, scores in zip(self.draws, self.in_scores, strict=True):
                self._rows(item, index, draw, scores)
        return self.result

    def _rows(self, item: EvalSet, index: int, draw: EnsembleDraw, in_scores: dict[int, np.ndarray]) -> None:
        likelihood = self.data.likelihood
        for n in draw.sizes:
            summary = self.mixture(draw, index, n)
            scores = None if item.split == "shift" else likelihood.summary_ood_score(summary)
            if item.split == "test":
                in_scores[n] = scores
            if n == draw.sizes[-1] and scores is not None:
                self._diagnostics(item, summary, draw, scores)
            if item.split == "test" and not item.score:
                continue
            if item.split == "ood":
                values = classification.ood_metrics(in_scores[n], scores)
            else:
                values = likelihood.summary_metrics(summary, item.labels, self.data.scale)
            if item.split == "test":
                values.update(self.complexity(draw, n))
                if self.reference is not None:
                    values.update(likelihood.reference_closeness(summary, self.reference, self.data.scale))
            prefixed = {f"{item.split}_{name}": value for name, value in values.items()}
            self.result.metrics.append({**draw.row(n), "split": item.split, **item.where, **prefixed})

    def _build_reference(self, index: int) -> None:
        """This method's reference predictive on the test set (set ``index``): its first ensemble of the
        largest K at all its samples; and, as the ceiling of every closeness, each pair of its
        single-member ensembles (independent chains of a sampler) measured against each other."""
        likelihood = self.data.likelihood
        largest = max(self.draws, key=lambda draw: (len(draw.seeds), -draw.key["ensemble_id"]))
        predictive = likelihood.summary_predictive(self.mixture(largest, index, largest.sizes[-1]))
        self.reference = ReferencePredictive(f"{largest.key['method']} K={len(largest.seeds)}", predictive)
        singles = {draw.seeds[0]: draw for draw in self.draws if len(draw.seeds) == 1}
        full = {seed: self.mixture(draw, index, draw.sizes[-1]) for seed, draw in singles.items()}
        for a, b in combinations(sorted(full), 2):
            other = ReferencePredictive(str(b), likelihood.summary_predictive(full[b]))
            closeness = likelihood.reference_closeness(full[a], other, self.data.scale)
            self.result.ceiling.append(
                {"method": largest.key["method"], "seed_a": a, "seed_b": b, **closeness}
            )

    def _diagnostics(self, item: EvalSet, summary: Any, draw: EnsembleDraw, scores: np.ndarray) -> None:
        """The set's OOD-score histogram and, for the scored test set, its reliability bins."""
        likelihood = self.data.likelihood
        key = {**draw.row(draw.sizes[-1]), "split": item.split}
        edges = likelihood.ood_score_edges(self.data.width)
        counts = classification.score_histogram(scores, edges)
        named = {"ood_set": item.where.get("ood_set", ""), "score": likelihood.ood_score_name}
        self.result.score_histograms += [
            {**key, **named, "bin": b, "lower": edges[b], "upper": edges[b + 1], "count": int(count)}
            for b, count in enumerate(counts)
        ]
        if item.labels is None or not item.score:
            return
        bins = likelihood.summary_reliability(summary, item.labels)
        if bins is not None:
            table = pd.DataFrame({**key, "bin": range(len(bins["count"])), **bins})
            self.result.reliability += table.to_dict("records")


def assemble_streams(
    data: EvaluationData,
    draws: list[EnsembleDraw],
    streams: dict[int, list],
    reference: ReferencePredictive | None = None,
    builds_reference: bool = False,
) -> Evaluation:
    """Every ensemble of ``draws`` scored in this process from its members' whole map streams
    (seed → [info, one item per group of sets], no curve samples): the reduce step without Ray."""
    infos = {seed: stream[0] for seed, stream in streams.items()}
    result, scores = Evaluation(), [{} for _ in draws]
    for number in range(len(next(iter(streams.values()))) - 1):
        summaries = {seed: stream[1 + number] for seed, stream in streams.items()}
        indices = sorted(next(iter(summaries.values())))
        first = number == 0
        assembly = GroupAssembly(
            data, draws, infos, summaries, scores, reference if first else None, builds_reference and first
        )
        result.extend(assembly.assemble(indices))
    return result
