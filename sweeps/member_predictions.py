"""The map step of evaluation: one selected member predicts every evaluation set once.

Member m's posterior samples are one fixed sequence (its generator is seeded by the evaluation seed
and m's seed, and restarts for each group of sets, so a group's sets share weight samples). From
the first ``max(lengths)`` samples it keeps, per set, the likelihood's summary of each prefix length
that some ensemble reads; a deterministic member predicts once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from bdlsweep.analysis.complexity import num_parameters, posterior_cost
from bdlsweep.sweeps.ensemble_assembly import MemberInfo, generator_seed
from bdlsweep.sweeps.evaluation_sets import evaluation_data
from bdlsweep.trainables.data.molecules import concat_inputs
from bdlsweep.trainables.registry import posterior_class
from bdlsweep.trainables.runtime.training import trial_device

FLOP_PROBE_INPUTS = 16


@dataclass(frozen=True)
class MemberJob:
    """One selected member to predict: its selection, seed and checkpoint, the prefix lengths the
    ensembles read, and how many samples it gives the predictive curve (0: none)."""

    label: str
    method: str
    derived: str | None
    seed: int
    checkpoint: str
    lengths: list[int]
    curve_samples: int = 0


def member_generator(device: torch.device, evaluation_seed: int, member_seed: int) -> torch.Generator:
    """The generator of a member's fixed sample sequence."""
    generator = torch.Generator(device=device)
    generator.manual_seed(generator_seed(evaluation_seed, member_seed))
    return generator


def predict_member(
    job: MemberJob, dataset: str, dataset_options: dict[str, Any], settings: dict[str, Any]
) -> Iterator[Any]:
    """Yield the member's ``MemberInfo``, then per group of sets {set index: {length: summary}}, then
    (when ``job.curve_samples``) its samples over the 1-D input grid ``[S, N, K]``."""
    data = evaluation_data(dataset, dataset_options, settings["splits"])
    device = trial_device()
    cls = posterior_class(job.method, job.derived)
    member = cls.load(job.checkpoint, device, data.train_inputs.to(device))
    probe = data.set(0).inputs[:FLOP_PROBE_INPUTS].to(device)
    cost = posterior_cost(member, probe, lambda: torch.Generator(device).manual_seed(0))
    groups = data.groups(settings["num_posterior_samples"])
    yield MemberInfo(member.deterministic, num_parameters(member.model), cost, len(groups))
    lengths = [1] if member.deterministic else job.lengths
    for group in groups:
        sets = [data.set(index).inputs for index in group]
        inputs = concat_inputs([item.to(device) for item in sets])
        generator = member_generator(device, settings["seed"], job.seed)
        outputs = member.predict(inputs, max(lengths), generator).cpu()
        parts = outputs.split([len(item) for item in sets], dim=1)
        yield {
            index: dict(zip(lengths, data.likelihood.summarize(part, lengths), strict=True))
            for index, part in zip(group, parts, strict=True)
        }
    if job.curve_samples:
        generator = member_generator(device, settings["seed"], job.seed)
        count = 1 if member.deterministic else job.curve_samples
        yield member.predict(data.curve.inputs.to(device), count, generator).cpu()
