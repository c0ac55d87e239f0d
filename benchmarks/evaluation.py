"""Evaluation of a quickstart-shaped plan: each member predicted once and ensembles assembled from
its summaries (the map and reduce steps, run in one process) against the baseline of each ensemble
re-predicting its members and scoring its pooled samples (what the actor-per-method evaluation did),
on the same MC dropout members, data and plan.

Usage: ``python benchmarks/evaluation.py [--seeds 4] [--samples 40] [--sizes 1 2 3]``; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from timing import timed

from bdlsweep.sweeps.evaluation.ensemble_assembly import (
    Evaluation,
    assemble_streams,
    ensemble_draw,
    needed_lengths,
)
from bdlsweep.sweeps.evaluation.evaluation_sets import evaluation_data
from bdlsweep.sweeps.evaluation.member_predictions import MemberJob, member_generator, predict_member
from bdlsweep.sweeps.reading.ensemble_members import plan_ensembles
from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.methods.mc_dropout import MCDropoutPosterior
from bdlsweep.trainables.posteriors.base import ModelRecipe


def _members(folder: Path, seeds: int) -> dict[int, str]:
    """MC dropout MLPs (128-128, dropout 0.1) on digits; untrained: prediction cost is what is timed."""
    data = load_dataset("digits", {})
    recipe = ModelRecipe("mlp", {"hidden": [128, 128], "dropout": 0.1}, data.input_shape, 10)
    checkpoints = {}
    for seed in range(1, seeds + 1):
        torch.manual_seed(seed)
        checkpoints[seed] = str(MCDropoutPosterior(recipe.build(), recipe).save(folder / f"member{seed}"))
    return checkpoints


def per_member(checkpoints: dict[int, str], plan: list, settings: dict) -> tuple[Evaluation, int]:
    """The framework: map (each member's longest prefix, once) then reduce; and its forward passes."""
    sampled = [ensemble_draw("mc_dropout", *ensemble, settings, False) for ensemble in plan]
    lengths = needed_lengths(sampled)
    jobs = [
        MemberJob("mc_dropout", "mc_dropout", None, seed, checkpoints[seed], values)
        for seed, values in lengths.items()
    ]
    streams = {job.seed: list(predict_member(job, "digits", {}, settings)) for job in jobs}
    result = assemble_streams(evaluation_data("digits", {}, settings["splits"]), sampled, streams)
    return result, sum(max(values) for values in lengths.values())


def per_ensemble(checkpoints: dict[int, str], plan: list, settings: dict) -> tuple[list, int]:
    """The baseline: every ensemble predicts its members' samples afresh (every set in one pass) and
    scores each prefix on every set, as the framework does."""
    from bdlsweep.metrics import classification

    data = evaluation_data("digits", {}, settings["splits"])
    likelihood = data.likelihood
    members = {seed: MCDropoutPosterior.load(path) for seed, path in checkpoints.items()}
    sets = [data.set(index) for index in range(len(data.entries))]
    inputs = torch.cat([item.inputs for item in sets])
    rows, passes = [], 0
    for ensemble in plan:
        draw = ensemble_draw("mc_dropout", *ensemble, settings, False)
        outputs = torch.empty(len(draw.draws), len(inputs), 10)
        for position, seed in enumerate(draw.seeds):
            chosen = torch.from_numpy(draw.draws == position)
            generator = member_generator(torch.device("cpu"), settings["seed"], seed)
            outputs[chosen] = members[seed].predict(inputs, int(chosen.sum()), generator)
            passes += int(chosen.sum())
        parts = outputs.split([len(item) for item in sets], dim=1)
        for n in draw.sizes:
            in_scores = likelihood.ood_score(parts[0][:n])
            for item, part in zip(sets, parts, strict=True):
                if item.labels is None:
                    rows.append(classification.ood_metrics(in_scores, likelihood.ood_score(part[:n])))
                else:
                    rows.append(likelihood.metrics(part[:n], item.labels))
    return rows, passes


def measure(seeds: int = 4, samples: int = 40, sizes: tuple[int, ...] = (1, 2, 3), repeats: int = 3) -> dict:
    """Median seconds and sampled forward passes (over every set at once) of both ways."""
    settings = {
        "num_posterior_samples": samples,
        "subsample_sizes": sorted({1, samples // 4, samples}),
        "stratified": True,
        "splits": ["test", "shift", "ood"],
        "seed": 0,
    }
    frame = plan_ensembles(list(range(1, seeds + 1)), list(sizes), 3)
    plan = list(frame[["K", "ensemble_id", "model_ids"]].itertuples(index=False, name=None))
    cpu = torch.device("cpu")
    with tempfile.TemporaryDirectory() as folder:
        checkpoints = _members(Path(folder), seeds)
        member_passes = per_member(checkpoints, plan, settings)[1]  # each count is its way's warm-up
        member_s, _ = timed(lambda: per_member(checkpoints, plan, settings), cpu, repeats, warm_up=False)
        ensemble_passes = per_ensemble(checkpoints, plan, settings)[1]
        ensemble_s, _ = timed(lambda: per_ensemble(checkpoints, plan, settings), cpu, repeats, warm_up=False)
    return {
        "ensembles": len(plan),
        "per_member_s": member_s,
        "per_ensemble_s": ensemble_s,
        "speedup": ensemble_s / member_s,
        "passes_per_member": member_passes,
        "passes_per_ensemble": ensemble_passes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    started = time.monotonic()
    figures = measure(args.seeds, args.samples, tuple(args.sizes), args.repeats)
    print(json.dumps({"benchmark": "evaluation", **figures, "wall_s": time.monotonic() - started}))


if __name__ == "__main__":
    main()
