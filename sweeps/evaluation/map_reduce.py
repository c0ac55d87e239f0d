"""Ensemble evaluation as map and reduce Ray tasks over the cluster.

Map: one task per selected member predicts every evaluation set once (``member_predictions``), at
``evaluate.resources`` each, spread over the nodes, so the members of every method use every GPU or
CPU slot; it streams back per group of sets the summaries of the sample prefixes the ensembles read.
Reduce: one task per method and group of sets, launched as soon as every member has streamed that
group, assembles each ensemble's mixture from them exactly and scores it (``ensemble_assembly``):
every metric at each subsample size, reliability bins and OOD-score histograms, and the weights and
FLOPs per prediction of the members used.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import ray

from bdlsweep.metrics import regression
from bdlsweep.metrics.reference_agreement import ReferencePredictive
from bdlsweep.storage.layout import SweepLayout
from bdlsweep.sweeps.evaluation.ensemble_assembly import (
    EnsembleDraw,
    Evaluation,
    GroupAssembly,
    MemberInfo,
    ensemble_draw,
    mixture,
    needed_lengths,
)
from bdlsweep.sweeps.evaluation.evaluation_sets import evaluation_data
from bdlsweep.sweeps.evaluation.member_predictions import MemberJob, predict_member
from bdlsweep.sweeps.reading.ensemble_members import members_of

logger = logging.getLogger("bdlsweep.progress")
TASK_RETRIES = 3


@dataclass(frozen=True)
class EvaluationFrames:
    """An evaluation as tables: metrics per ensemble (``ensembles.csv``), reliability bins, OOD-score
    histograms, the predictive curves over a 1-D input grid where asked for, per member the node that
    predicted it, and the reference method's members measured against each other (empty without one)."""

    ensembles: pd.DataFrame
    reliability: pd.DataFrame
    score_histograms: pd.DataFrame
    curves: pd.DataFrame | None
    members: pd.DataFrame
    ceiling: pd.DataFrame


def assemble_group(
    dataset: str,
    dataset_options: dict[str, Any],
    settings: dict[str, Any],
    draws: list[EnsembleDraw],
    infos: dict[int, MemberInfo],
    in_scores: list[dict[int, Any]] | None,
    reference: ReferencePredictive | None,
    builds_reference: bool,
    seeds: list[int],
    *summaries: dict[int, dict[int, Any]],
) -> tuple[Evaluation, list[dict[int, Any]], ReferencePredictive | None]:
    """The reduce task of one method on one group of sets (``summaries`` per seed of ``seeds``: set
    index → prefix length → summary); returns its rows, the test set's OOD scores per ensemble and size
    (the first group holds the test set; the groups after it need them) and the reference predictive
    its test rows were measured against (built here where ``builds_reference``)."""
    data = evaluation_data(dataset, dataset_options, settings["splits"])
    scores = in_scores if in_scores is not None else [{} for _ in draws]
    assembly = GroupAssembly(
        data, draws, infos, dict(zip(seeds, summaries, strict=True)), scores, reference, builds_reference
    )
    return assembly.assemble(sorted(summaries[0])), assembly.in_scores, assembly.reference


def _curve(label: str, draw: EnsembleDraw, infos: dict[int, MemberInfo], samples: dict, data) -> pd.DataFrame:
    """The ensemble's predictive mean and std over the 1-D input grid (a mixture of all its samples),
    in data units: columns method, K, x, mean, std."""
    likelihood = data.likelihood
    pooled = mixture(likelihood, draw, len(draw.draws), infos, lambda seed, count: samples[seed][:count])
    mean, variance = regression.predictive_moments(*likelihood.split(pooled))
    curve = data.curve
    return pd.DataFrame(
        {
            "method": label,
            "K": len(draw.seeds),
            "x": curve.x,
            "mean": mean[:, 0] * curve.target_scale + curve.target_mean,
            "std": (variance[:, 0] ** 0.5) * curve.target_scale,
        }
    )


def _members_frame(
    infos: dict[str, dict[int, MemberInfo]], seconds: dict[tuple[str, int], float]
) -> pd.DataFrame:
    """One row per predicted member: method, seed, node, determinism, weights, FLOP cost, how its
    summaries were had (predicted, reused from the store, or predicted again) and the seconds its map task
    took from its first result (the member loaded) to its last."""
    rows = [
        {
            "method": label,
            "seed": seed,
            "node_id": info.node_id,
            "deterministic": info.deterministic,
            "params": info.params,
            "flops_fixed": info.cost.fixed,
            "flops_per_sample": info.cost.per_sample,
            "source": info.source,
            "seconds": seconds[(label, seed)],
        }
        for label, members in infos.items()
        for seed, info in sorted(members.items())
    ]
    return pd.DataFrame(rows)


class _Progress:
    """One line per member as it finishes: which, how many are left, and an estimate of the rest from
    the rate members have finished so far."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.started = total, 0, time.monotonic()

    def finished(self, job: MemberJob, info: MemberInfo) -> None:
        self.done += 1
        left = self.total - self.done
        rate = (time.monotonic() - self.started) / self.done
        logger.info(
            "evaluation: %s seed=%d %s (%d/%d members, %d left, ~%.0f s to go)",
            job.label, job.seed, info.source, self.done, self.total, left, left * rate,
        )  # fmt: skip


@dataclass
class _ReferenceSlot:
    """Where the first reduce task of each method finds the reference predictive: ``label``, the method
    whose first reduce task builds it (its third result fills ``value``), or a file's, put in the object
    store at once; nothing to wait for without a reference."""

    label: str | None = None
    value: Any = None

    def waits(self, label: str) -> bool:
        """Whether ``label``'s test rows must wait for the reference method's first reduce task."""
        return self.label is not None and label != self.label and self.value is None


class _MethodReduction:
    """One method's members' streams as they arrive (their info, their curve samples if asked for, then
    one item per group of sets); launches the method's reduce task for a group as soon as every member has
    streamed it (the first group, holding the test set, once the reference predictive is on its way),
    and frees the members' parts of that group."""

    def __init__(
        self,
        label: str,
        seeds: list[int],
        ensembles: list,
        settings: dict,
        launch: Callable,
        reference: _ReferenceSlot,
    ) -> None:
        self.label, self.seeds, self.ensembles = label, seeds, ensembles
        self.settings, self.launch, self.reference = settings, launch, reference
        self.infos: dict[int, MemberInfo] = {}
        self.groups: dict[int, list[Any]] = {seed: [] for seed in seeds}
        self.curve_samples: dict[int, Any] = {}
        self.draws: list[EnsembleDraw] = []
        self.launched, self.scores, self.rows = 0, None, []

    @property
    def deterministic(self) -> bool:
        """Whether every member predicts without sampling (once every member's info has arrived)."""
        return all(info.deterministic for info in self.infos.values())

    def receive(self, job: MemberJob, item: ray.ObjectRef) -> None:
        if job.seed not in self.infos:
            self.infos[job.seed] = ray.get(item)
        elif job.curve_samples and job.seed not in self.curve_samples:
            self.curve_samples[job.seed] = item
        else:
            self.groups[job.seed].append(item)
        self.launch_complete_groups()

    def launch_complete_groups(self) -> None:
        """Launch the reduce task of every group that all members have streamed and that may start."""
        if len(self.infos) < len(self.seeds):
            return
        if not self.draws:
            self.draws = [
                ensemble_draw(self.label, *ensemble, self.settings, self.deterministic)
                for ensemble in self.ensembles
            ]
        while self.launched < min(len(self.groups[seed]) for seed in self.seeds):
            first = self.launched == 0
            if first and self.reference.waits(self.label):
                return
            parts = [self.groups[seed][self.launched] for seed in self.seeds]
            builds = first and self.reference.label == self.label
            reference = self.reference.value if first and not builds else None
            rows, scores, built = self.launch(
                self.draws, dict(self.infos), self.scores, reference, builds, self.seeds, parts
            )
            self.scores = scores if first else self.scores
            if builds:
                self.reference.value = built
            self.rows.append(rows)
            for seed in self.seeds:
                self.groups[seed][self.launched] = None
            self.launched += 1


def _member_jobs(
    selections: dict[str, Any],
    ensembles: list[tuple[int, int, str]],
    settings: dict[str, Any],
    curve_members: str | None,
    layout: SweepLayout | None,
) -> list[MemberJob]:
    """One map job per member that some ensemble (or the predictive curve) of each selection uses,
    with the prefix lengths of its samples that the ensembles' draws read."""
    jobs: list[MemberJob] = []
    for label, selection in selections.items():
        sampled = [ensemble_draw(label, *ensemble, settings, deterministic=False) for ensemble in ensembles]
        lengths = needed_lengths(sampled)
        curve_counts = {}
        if curve_members is not None:
            curve = ensemble_draw(label, len(members_of(curve_members)), 0, curve_members, settings, False)
            curve_counts = curve.samples_per_member(len(curve.draws))
        checkpoints = selection.checkpoints()
        for seed in sorted(set(lengths) | set(curve_counts)):
            jobs.append(
                MemberJob(
                    label,
                    selection.method,
                    selection.derived,
                    seed,
                    checkpoints[seed],
                    lengths.get(seed, [1]),
                    curve_counts.get(seed, 0),
                    None if layout is None else str(layout.member_summaries(label, seed)),
                    None if layout is None else layout.relative(checkpoints[seed]),
                )
            )
    return jobs


def evaluate_ensembles(
    selections: dict[str, Any],
    plan: pd.DataFrame,
    dataset: str,
    dataset_options: dict[str, Any],
    settings: dict[str, Any],
    resources: dict[str, float],
    curve_members: str | None = None,
    layout: SweepLayout | None = None,
    reference: str | ReferencePredictive | None = None,
) -> EvaluationFrames:
    """Every ensemble of ``plan`` for every selection, by map tasks per member and reduce tasks per
    method and group of sets; with ``curve_members`` (model ids) also that ensemble's predictive over
    the dataset's 1-D input grid. With ``layout``, members' summaries are stored in (and reused from)
    the sweep's storage folder. With ``reference`` (a selection's label, or a file's predictions), each
    ensemble's test predictive is also measured against the reference posterior's."""
    options = {
        "num_cpus": resources.get("cpu", 1),
        "num_gpus": resources.get("gpu", 0),
        "resources": {k: v for k, v in resources.items() if k not in {"cpu", "gpu"}} or None,
    }
    mapper = ray.remote(predict_member).options(
        num_returns="streaming", max_retries=TASK_RETRIES, scheduling_strategy="SPREAD", **options
    )
    reducer = ray.remote(assemble_group).options(
        num_cpus=options["num_cpus"], num_returns=3, max_retries=TASK_RETRIES
    )
    ensembles = list(plan[["K", "ensemble_id", "model_ids"]].itertuples(index=False, name=None))

    jobs = _member_jobs(selections, ensembles, settings, curve_members, layout)

    def launch(draws, infos, scores, reference, builds, seeds, parts):
        arguments = (draws, infos, scores, reference, builds, seeds, *parts)
        return reducer.remote(dataset, dataset_options, settings, *arguments)

    slot = (
        _ReferenceSlot(value=ray.put(reference))
        if isinstance(reference, ReferencePredictive)
        else _ReferenceSlot(label=reference)
    )
    reductions = {
        label: _MethodReduction(
            label, sorted(job.seed for job in jobs if job.label == label), ensembles, settings, launch, slot
        )
        for label in selections
    }
    streams = {mapper.remote(job, dataset, dataset_options, settings): job for job in jobs}
    progress = _Progress(len(jobs))
    started: dict[Any, float] = {}
    seconds: dict[tuple[str, int], float] = {}  # a member's predictions: from its info to its last group
    waiting = list(streams)
    while waiting:
        ready, waiting = ray.wait(waiting, num_returns=1)
        for stream in ready:
            job = streams[stream]
            try:
                item = next(stream)
            except StopIteration:
                seconds[(job.label, job.seed)] = time.monotonic() - started[stream]
                progress.finished(job, reductions[job.label].infos[job.seed])
                continue
            started.setdefault(stream, time.monotonic())
            reductions[job.label].receive(job, item)
            waiting.append(stream)
            if job.label == slot.label:  # the reference may be on its way now: start those that waited
                for reduction in reductions.values():
                    reduction.launch_complete_groups()

    curves = []
    if curve_members:
        data = evaluation_data(dataset, dataset_options, settings["splits"])
        for label, reduction in reductions.items():
            samples = {seed: ray.get(item) for seed, item in reduction.curve_samples.items()}
            curve = ensemble_draw(
                label, len(members_of(curve_members)), 0, curve_members, settings, reduction.deterministic
            )
            curves.append(_curve(label, curve, reduction.infos, samples, data))
    result = Evaluation()
    for part in ray.get([rows for reduction in reductions.values() for rows in reduction.rows]):
        result.extend(part)
    return EvaluationFrames(
        pd.DataFrame(result.metrics),
        pd.DataFrame(result.reliability),
        pd.DataFrame(result.score_histograms),
        pd.concat(curves, ignore_index=True) if curves else None,
        _members_frame({label: reduction.infos for label, reduction in reductions.items()}, seconds),
        pd.DataFrame(result.ceiling),
    )
