"""The map step of evaluation: one selected member predicts every evaluation set once.

Member m's posterior samples are one fixed sequence (its generator is seeded by the evaluation seed
and m's seed, and restarts for each group of sets, so a group's sets share weight samples). From
the first ``max(lengths)`` samples it keeps, per set, the likelihood's summary of each prefix length
that some ensemble reads; a deterministic member predicts once. The summaries are stored under the
sweep's storage folder, so a later evaluation that reads no other prefixes (another plan, an
interrupted evaluation run again) loads them instead of predicting.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import ray
import torch

from bdlsweep.analysis.complexity import SampleCost, num_parameters, posterior_cost
from bdlsweep.storage.layout import MemberSummaryFiles
from bdlsweep.storage.locations import Location
from bdlsweep.sweeps.evaluation.ensemble_assembly import MemberInfo, generator_seed
from bdlsweep.sweeps.evaluation.evaluation_sets import EvaluationData, evaluation_data
from bdlsweep.trainables.data.files import described
from bdlsweep.trainables.data.molecules import concat_inputs
from bdlsweep.trainables.registry import posterior_class
from bdlsweep.trainables.runtime.training import trial_device

FLOP_PROBE_INPUTS = 16


@dataclass(frozen=True)
class MemberJob:
    """One selected member to predict: its selection, seed and checkpoint, the prefix lengths the
    ensembles read, how many samples it gives the predictive curve (0: none), the folder that
    stores its summaries (None: not stored), and the checkpoint as the sweep's files name it
    (relative to the storage root, so summaries stored in a moved folder still match; None: as is)."""

    label: str
    method: str
    derived: str | None
    seed: int
    checkpoint: str
    lengths: list[int]
    curve_samples: int = 0
    store: str | None = None
    reference: str | None = None


def member_generator(device: torch.device, evaluation_seed: int, member_seed: int) -> torch.Generator:
    """The generator of a member's fixed sample sequence."""
    generator = torch.Generator(device=device)
    generator.manual_seed(generator_seed(evaluation_seed, member_seed))
    return generator


def _tensor_bytes(value: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def _from_bytes(content: bytes) -> Any:
    return torch.load(io.BytesIO(content), weights_only=True)


@dataclass(frozen=True)
class MemberStore:
    """A member's stored summaries (``MemberSummaryFiles``): one file per group of sets, its curve, and
    its key (what they were made from and which prefixes they hold), written last so that only finished
    members are found."""

    files: MemberSummaryFiles

    def load(self, key: dict[str, Any], job: MemberJob, data: EvaluationData) -> tuple | None:
        """(info, groups, curve) when the stored summaries were made from ``key`` and hold every prefix
        ``job`` reads, else None."""
        record = self.files.key
        if not record.is_file():
            return None
        stored = json.loads(record.read_text())
        if stored["key"] != key or "groups" not in stored:  # "groups": not written before 2026-12-02
            return None
        info = MemberInfo(**{**stored["info"], "cost": SampleCost(**stored["info"]["cost"])})
        needed = [1] if info.deterministic else job.lengths
        if not set(needed) <= set(stored["lengths"]):
            return None
        if job.curve_samples > stored["curve_samples"]:
            return None
        groups = [
            {
                index: {
                    length: data.likelihood.summary_from_state(state) for length, state in prefixes.items()
                }
                for index, prefixes in _from_bytes(self.files.group(g).read_bytes()).items()
            }
            for g in range(stored["groups"])
        ]
        curve = _from_bytes(self.files.curve.read_bytes()) if job.curve_samples else None
        return info, groups, curve

    def start(self) -> None:
        """Mark the stored summaries as being replaced, so that a run stopped half-way leaves none that
        a later evaluation would take for finished."""
        if self.files.key.is_file():
            self.files.key.write_text(json.dumps({"key": None}))

    def save_group(self, number: int, summaries: dict[int, dict[int, Any]], data: EvaluationData) -> None:
        states = {
            index: {length: data.likelihood.summary_state(summary) for length, summary in prefixes.items()}
            for index, prefixes in summaries.items()
        }
        self.files.group(number).write_bytes(_tensor_bytes(states))

    def save_curve(self, samples: torch.Tensor) -> None:
        self.files.curve.write_bytes(_tensor_bytes(samples))

    def finish(
        self, key: dict[str, Any], info: MemberInfo, groups: int, lengths: list[int], curve_samples: int
    ) -> None:
        record = {
            "key": key,
            "info": asdict(info),
            "groups": groups,
            "lengths": lengths,
            "curve_samples": curve_samples,
        }
        self.files.key.write_text(json.dumps(record))


def _key(job: MemberJob, dataset: str, dataset_options: dict[str, Any], settings: dict[str, Any]) -> dict:
    """What a member's summaries depend on besides the prefixes: its checkpoint, the data, the sample seed."""
    return {
        "checkpoint": job.reference or job.checkpoint,
        "dataset": dataset,
        "options": json.loads(json.dumps(dataset_options, sort_keys=True, default=str)),
        "seed": settings["seed"],
        "num_posterior_samples": settings["num_posterior_samples"],
        "splits": list(settings["splits"]),
    }


def predict_member(
    job: MemberJob, dataset: str, dataset_options: dict[str, Any], settings: dict[str, Any]
) -> Iterator[Any]:
    """Yield the member's ``MemberInfo``, then (when ``job.curve_samples``) its samples over the 1-D
    input grid ``[S, N, K]``, then per group of sets {set index: {length: summary}}; loaded from its
    store when that holds them, else predicted (and stored)."""
    data = evaluation_data(dataset, dataset_options, settings["splits"])
    node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
    store = MemberStore(MemberSummaryFiles(Location.parse(job.store))) if job.store else None
    key = _key(job, dataset, dataset_options, settings)
    source = "predicted"
    try:
        stored = store.load(key, job, data) if store is not None else None
    except Exception as error:  # a stored file changed by hand: the summaries are a cache, made again
        stored, source = None, f"predicted again (its stored summaries were unreadable: {described(error)})"
    if stored is not None:
        info, groups, curve = stored
        yield MemberInfo(info.deterministic, info.params, info.cost, node, "reused")
        if job.curve_samples:
            yield curve
        for group in groups:  # not "yield from": Ray sends values into a streaming task's generator
            yield group
        return
    if store is not None:
        store.start()
    device = trial_device()
    cls = posterior_class(job.method, job.derived)
    member = cls.load(job.checkpoint, device, data.train_inputs.to(device))
    probe = data.set(0).inputs[:FLOP_PROBE_INPUTS].to(device)
    cost = posterior_cost(member, probe, lambda: torch.Generator(device).manual_seed(0))
    info = MemberInfo(member.deterministic, num_parameters(member.model), cost, node, source)
    yield info
    if job.curve_samples:
        generator = member_generator(device, settings["seed"], job.seed)
        count = 1 if member.deterministic else job.curve_samples
        curve = member.predict(data.curve.inputs.to(device), count, generator).cpu()
        if store is not None:
            store.save_curve(curve)
        yield curve
    lengths = [1] if member.deterministic else job.lengths
    number = 0
    for number, group in enumerate(data.read_groups(settings["num_posterior_samples"]), start=1):
        inputs = concat_inputs([item.inputs.to(device) for _, item in group])
        generator = member_generator(device, settings["seed"], job.seed)
        outputs = member.predict(inputs, max(lengths), generator).cpu()
        parts = outputs.split([len(item) for _, item in group], dim=1)
        summaries = {
            index: dict(zip(lengths, data.likelihood.summarize(part, lengths), strict=True))
            for (index, _), part in zip(group, parts, strict=True)
        }
        if store is not None:
            store.save_group(number - 1, summaries, data)
        yield summaries
    if store is not None:
        store.finish(key, info, number, lengths, job.curve_samples)
