"""Every registered method keeps the contract the pipeline relies on; a new one is checked with no edits here.

For each entry of the method registry: its settings validate (and reject unknown keys); a tiny trial
(the method's ``tiny`` settings, from its parent method's tiny trial where it has one) runs and reports
through the Tune session calls, on digits (classification) and on diabetes (regression) where the method
declares the likelihood; the final checkpoint loads, predicts the documented shape (log-probabilities, or
means then variances), reproduces the validation ELPD it reported, and survives save → load, and so does
every derived selection it reports (SWA from SWAG's trial); a trial resumed from its first checkpoint
continues with the next step; and its search spaces resolve.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from tune_session import run_in_session

from bdlsweep.search_spaces import DEFAULT_OPTUNA_SPACES
from bdlsweep.sweeps.spec.search_resolution import resolve_search
from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.inference.likelihoods import LIKELIHOODS
from bdlsweep.trainables.posteriors.base import Posterior
from bdlsweep.trainables.registry import METHODS
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.reporting import COMPLETE, DIVERGED, POSTERIOR_DIR
from bdlsweep.trainables.runtime.trial_loop import STEP_UNITS

SEED = 1
MODEL = {"hidden": [16]}


DATASETS = {"classification": "digits", "regression": "diabetes"}


class Trials:
    """Tiny trials of every method on each dataset, run once each (a parent before the methods that start
    from it); cases are ``(likelihood, method name)``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sessions: dict = {}
        self.contexts: dict[tuple[str, str], TrialContext] = {}

    def context(self, case: tuple[str, str]) -> TrialContext:
        likelihood, name = case
        method = METHODS[name]
        if case in self.contexts:
            return self.contexts[case]
        parents = {SEED: str(self.final_posterior((likelihood, method.parents[0])))} if method.parents else {}
        dataset = DATASETS[likelihood]
        context = TrialContext("contract", name, dataset, {}, "mlp", MODEL, parents=parents)
        if method.prepare is not None:
            prepared = self.folder / "prepared" / likelihood / name
            method.prepare(context, method.settings.model_validate(method.tiny), SEED, str(prepared))
            context = TrialContext(**{**vars(context), "prepared": {SEED: str(prepared)}})
        self.contexts[case] = context
        return context

    def config(self, case: tuple[str, str]) -> dict:
        return {**METHODS[case[1]].tiny, "checkpoint_every_s": 0.0, "seed": SEED}

    def session(self, case: tuple[str, str]):
        if case not in self.sessions:
            method, context = METHODS[case[1]], self.context(case)
            folder = self.folder / case[0] / case[1]
            self.sessions[case] = run_in_session(method.trainable, self.config(case), context, folder)
        return self.sessions[case]

    def final_posterior(self, case: tuple[str, str]) -> Path:
        return self.session(case).checkpoints[-1] / POSTERIOR_DIR


@pytest.fixture(scope="module")
def trials(tmp_path_factory) -> Trials:
    return Trials(tmp_path_factory.mktemp("contract"))


@pytest.fixture(scope="module")
def validation_sets():
    return {likelihood: load_dataset(dataset, {}).val for likelihood, dataset in DATASETS.items()}


NAMES = sorted(METHODS)
CASES = [
    (likelihood, name) for likelihood in DATASETS for name in NAMES if likelihood in METHODS[name].likelihoods
]


@pytest.mark.parametrize("name", NAMES)
def test_settings_validate_and_reject_unknown_keys(name):
    method = METHODS[name]
    settings = method.settings.model_validate(method.tiny)
    assert method.settings.from_config({**settings.model_dump(), "seed": SEED}) == settings
    with pytest.raises(ValidationError, match="no_such_setting"):
        method.settings.model_validate({"no_such_setting": 1})


@pytest.mark.parametrize("case", CASES, ids="-".join)
def test_a_tiny_trial_reports_every_step_and_ends_with_a_checkpoint(case, trials):
    reports = trials.session(case).reports
    metrics, checkpoint = reports[-1]
    assert metrics[COMPLETE] and not metrics[DIVERGED]
    assert math.isfinite(metrics["val_elpd"]) and checkpoint is not None
    assert not any(report[COMPLETE] for report, _ in reports[:-1])
    counters = [unit for unit in STEP_UNITS if unit in metrics]
    assert len(counters) == 1, counters  # one step counter, named for what a step is
    assert [report[counters[0]] for report, _ in reports] == list(range(1, len(reports) + 1))


def _selections(name: str) -> list[tuple[type[Posterior], str]]:
    """The posterior classes a method's trial yields, each with the validation ELPD it reports for it."""
    method = METHODS[name]
    return [(method.posterior, "val_elpd")] + [
        (derived.posterior, derived.metric) for derived in method.derived.values()
    ]


@pytest.mark.parametrize("case", CASES, ids="-".join)
def test_the_checkpoint_predicts_the_documented_shape_and_the_reported_elpd(
    case, trials, validation_sets, tmp_path
):
    likelihood, name = case
    method, validation = METHODS[name], validation_sets[likelihood]
    metrics = trials.session(case).reports[-1][0]
    outputs = 10 if likelihood == "classification" else 2 * validation.labels.shape[-1]
    for posterior_class, metric in _selections(name):
        posterior = posterior_class.load(trials.final_posterior(case), "cpu", validation.inputs)
        assert isinstance(posterior, Posterior)
        samples = method.settings.model_validate(method.tiny).model_dump().get("val_samples", 1)
        samples = min(samples, metrics.get("kept_samples", samples))
        generator = torch.Generator().manual_seed(SEED)
        predicted = posterior.predict(validation.inputs, samples, generator)
        expected_samples = 1 if posterior.deterministic else samples
        assert predicted.shape == (expected_samples, len(validation.labels), outputs), posterior_class
        if likelihood == "classification":
            total = predicted.logsumexp(-1)
            torch.testing.assert_close(total, torch.zeros(predicted.shape[:2]), atol=1e-4, rtol=0)
        else:
            assert (predicted[..., outputs // 2 :] > 0).all()  # variances
        scores = LIKELIHOODS[likelihood].validation(predicted.float(), validation.labels)
        assert scores["val_elpd"] == pytest.approx(metrics[metric], abs=1e-4), posterior_class
        copied = posterior_class.load(posterior.save(tmp_path / metric), "cpu", validation.inputs)
        again = copied.predict(validation.inputs, samples, torch.Generator().manual_seed(SEED))
        torch.testing.assert_close(again, predicted)


@pytest.mark.parametrize("case", CASES, ids="-".join)
def test_a_trial_resumed_from_its_first_checkpoint_continues_after_it(case, trials, tmp_path):
    session = trials.session(case)
    index = next(index for index, (_, kept) in enumerate(session.reports) if kept is not None)
    metrics, first = session.reports[index]
    trainable = METHODS[case[1]].trainable
    resumed = run_in_session(
        trainable, trials.config(case), trials.context(case), tmp_path, resume_from=first
    )
    (counter,) = [unit for unit in STEP_UNITS if unit in metrics]
    if metrics[COMPLETE]:  # restored from its final checkpoint: that report again, nothing trained or saved
        assert len(resumed.reports) == 1 and resumed.reports[0][1] is None
        assert resumed.reports[0][0][counter] == metrics[counter]
    else:
        later = [report[counter] for report, _ in session.reports[index + 1 :]]
        assert [report[counter] for report, _ in resumed.reports] == later
    assert resumed.reports[-1][0][COMPLETE]
    assert resumed.reports[-1][0]["val_elpd"] == pytest.approx(session.reports[-1][0]["val_elpd"], abs=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_the_default_search_space_resolves_against_the_settings(name):
    method = METHODS[name]
    assert DEFAULT_OPTUNA_SPACES.get(name), f"{name} has no default search space in search_spaces/"
    settings = method.settings.model_validate(method.tiny)
    resolved = resolve_search("contract", ("stages", name), method, settings, "optuna")
    assert set(resolved) == set(DEFAULT_OPTUNA_SPACES[name])


@pytest.mark.parametrize("name", NAMES)
def test_the_training_passes_are_counted_and_a_preparation_counts_per_seed(name):
    method = METHODS[name]
    per_trial = method.passes.per_trial(method.settings.model_validate(method.tiny))
    assert math.isfinite(per_trial) and per_trial >= 0 and method.passes.rule
    assert (method.passes.per_seed > 0) == (method.prepare is not None)


@pytest.mark.parametrize("name", NAMES)
def test_the_probe_settings_validate_and_doubled_they_double_the_training_passes(name):
    method = METHODS[name]
    doubled = {key: 2 * v if type(v) is int else v for key, v in method.probe.items()}
    short, long = (
        method.settings.model_validate({**values, **method.probe_fixed}) for values in (method.probe, doubled)
    )
    if method.passes.per_trial(short) == 0:  # its trials only validate: nothing for a probe to shorten
        assert (
            method.probe == {} and method.passes.per_trial(method.settings.model_validate(method.tiny)) == 0
        )
    else:
        assert method.passes.per_trial(long) == 2 * method.passes.per_trial(short)
