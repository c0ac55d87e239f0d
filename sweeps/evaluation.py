"""Ensemble evaluation as map and reduce Ray tasks over the cluster.

Map: one task per selected member predicts every evaluation set once (``member_predictions``), at
``evaluate.resources`` each, so the members of every method spread over every GPU or CPU slot; it
streams back per group of sets the summaries of the sample prefixes the ensembles read. Reduce: one
task per method and group of sets assembles each ensemble's mixture from them exactly and scores it
(``ensemble_assembly``): every metric at each subsample size, reliability bins and OOD-score
histograms, and the weights and FLOPs per prediction of the members used.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
import ray

from bdlsweep.analysis import regression_metrics
from bdlsweep.sweeps.ensemble_assembly import (
    EnsembleDraw,
    Evaluation,
    GroupAssembly,
    MemberInfo,
    ensemble_draw,
    needed_lengths,
)
from bdlsweep.sweeps.ensemble_plan import members_of
from bdlsweep.sweeps.evaluation_sets import evaluation_data
from bdlsweep.sweeps.member_predictions import MemberJob, predict_member

logger = logging.getLogger("bdlsweep.progress")
MAP_RETRIES = 3


@dataclass(frozen=True)
class EvaluationFrames:
    """An evaluation as tables: metrics per ensemble (``ensembles.csv``), reliability bins, OOD-score
    histograms, and the predictive curves over a 1-D input grid where asked for."""

    ensembles: pd.DataFrame
    reliability: pd.DataFrame
    score_histograms: pd.DataFrame
    curves: pd.DataFrame | None


def assemble_group(
    dataset: str,
    dataset_options: dict[str, Any],
    settings: dict[str, Any],
    group: int,
    draws: list[EnsembleDraw],
    infos: dict[int, MemberInfo],
    in_scores: list[dict[int, Any]] | None,
    seeds: list[int],
    *summaries: dict[int, dict[int, Any]],
) -> tuple[Evaluation, list[dict[int, Any]]]:
    """The reduce task of one method on the ``group``-th group of sets (``summaries`` per seed of
    ``seeds``); returns its rows and the test set's OOD scores per ensemble and size (group 0 holds the
    test set; the groups after it need them)."""
    data = evaluation_data(dataset, dataset_options, settings["splits"])
    scores = in_scores if in_scores is not None else [{} for _ in draws]
    assembly = GroupAssembly(data, draws, infos, dict(zip(seeds, summaries, strict=True)), scores)
    indices = data.groups(settings["num_posterior_samples"])[group]
    return assembly.assemble(indices), assembly.in_scores


def _curve(label: str, draw: EnsembleDraw, infos: dict[int, MemberInfo], samples: dict, data) -> pd.DataFrame:
    """The ensemble's predictive mean and std over the 1-D input grid (a mixture of all its samples),
    in data units: columns method, K, x, mean, std."""
    counts = draw.samples_per_member(len(draw.draws))
    likelihood = data.likelihood
    parts = [
        likelihood.repeat(samples[seed], count) if infos[seed].deterministic else samples[seed][:count]
        for seed, count in counts.items()
    ]
    mean, variance = regression_metrics.predictive_moments(*likelihood.split(likelihood.pool(parts)))
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


class _Progress:
    """One line per finished member: what finished, how many are left, and an estimate of the rest."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.started = total, 0, time.monotonic()

    def finished(self, job: MemberJob) -> None:
        self.done += 1
        left = self.total - self.done
        rate = (time.monotonic() - self.started) / self.done
        logger.info(
            "evaluation: %s seed=%d predicted (%d/%d members, %d left, ~%.0f s to go)",
            job.label, job.seed, self.done, self.total, left, left * rate,
        )  # fmt: skip


def evaluate_ensembles(
    selections: dict[str, Any],
    plan: pd.DataFrame,
    dataset: str,
    dataset_options: dict[str, Any],
    settings: dict[str, Any],
    resources: dict[str, float],
    curve_members: str | None = None,
) -> EvaluationFrames:
    """Every ensemble of ``plan`` for every selection, by map tasks per member and reduce tasks per
    method and group of sets; with ``curve_members`` (model ids) also that ensemble's predictive over
    the dataset's 1-D input grid."""
    options = {
        "num_cpus": resources.get("cpu", 1),
        "num_gpus": resources.get("gpu", 0),
        "resources": {k: v for k, v in resources.items() if k not in {"cpu", "gpu"}} or None,
    }
    mapper = ray.remote(predict_member).options(num_returns="streaming", max_retries=MAP_RETRIES, **options)
    reducer = ray.remote(assemble_group).options(num_cpus=options["num_cpus"], max_retries=MAP_RETRIES)
    ensembles = list(plan[["K", "ensemble_id", "model_ids"]].itertuples(index=False, name=None))

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
                )
            )
    streams = [mapper.remote(job, dataset, dataset_options, settings) for job in jobs]

    infos: dict[str, dict[int, MemberInfo]] = {}
    groups: dict[str, dict[int, list[Any]]] = {}
    curve_samples: dict[str, dict[int, Any]] = {}
    progress = _Progress(len(jobs))
    for job, stream in zip(jobs, streams, strict=True):
        info = ray.get(next(stream))
        infos.setdefault(job.label, {})[job.seed] = info
        groups.setdefault(job.label, {})[job.seed] = [next(stream) for _ in range(info.groups)]
        if job.curve_samples:
            curve_samples.setdefault(job.label, {})[job.seed] = ray.get(next(stream))
        progress.finished(job)

    data = evaluation_data(dataset, dataset_options, settings["splits"]) if curve_samples else None
    result, curves = Evaluation(), []
    for label in selections:
        members = infos[label]
        deterministic = all(info.deterministic for info in members.values())
        draws = [ensemble_draw(label, *ensemble, settings, deterministic) for ensemble in ensembles]
        seeds = sorted(groups[label])
        count = members[seeds[0]].groups
        first, scores = ray.get(
            reducer.remote(
                dataset,
                dataset_options,
                settings,
                0,
                draws,
                members,
                None,
                seeds,
                *[groups[label][seed][0] for seed in seeds],
            )
        )
        rest = [
            reducer.remote(
                dataset,
                dataset_options,
                settings,
                number,
                draws,
                members,
                scores,
                seeds,
                *[groups[label][seed][number] for seed in seeds],
            )
            for number in range(1, count)
        ]
        result.extend(first)
        for part, _ in ray.get(rest):
            result.extend(part)
        if label in curve_samples:
            curve = ensemble_draw(
                label, len(members_of(curve_members)), 0, curve_members, settings, deterministic
            )
            curves.append(_curve(label, curve, members, curve_samples[label], data))
    return EvaluationFrames(
        pd.DataFrame(result.metrics),
        pd.DataFrame(result.reliability),
        pd.DataFrame(result.score_histograms),
        pd.concat(curves, ignore_index=True) if curves else None,
    )
