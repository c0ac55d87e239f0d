"""Every registered method keeps the contract the pipeline relies on; a new one is checked with no edits here.

For each entry of the method registry: its settings validate (and reject unknown keys); a tiny trial
(the method's ``tiny`` settings on digits, from its parent method's tiny trial where it has one) runs
and reports through the Tune session calls; the final checkpoint loads, predicts log-probabilities of
the documented shape, reproduces the validation ELPD it reported, and survives save → load; a trial
resumed from its first checkpoint continues with the next step; and its search spaces resolve.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from tune_session import run_in_session

from bdlsweep.metrics.classification import lpd
from bdlsweep.search_spaces import DEFAULT_OPTUNA_SPACES
from bdlsweep.sweeps.spec.search_resolution import resolve_search
from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.posteriors.base import Posterior
from bdlsweep.trainables.registry import METHODS
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.reporting import COMPLETE, DIVERGED, POSTERIOR_DIR

SEED = 1
MODEL = {"hidden": [16]}


class Trials:
    """Tiny trials of every method, run once each (a parent before the methods that start from it)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sessions: dict = {}
        self.contexts: dict[str, TrialContext] = {}

    def context(self, name: str) -> TrialContext:
        method = METHODS[name]
        if name in self.contexts:
            return self.contexts[name]
        parents = {SEED: str(self.final_posterior(method.parents[0]))} if method.parents else {}
        context = TrialContext("contract", name, "digits", {}, "mlp", MODEL, parents=parents)
        if method.prepare is not None:
            prepared = self.folder / "prepared" / name
            method.prepare(context, method.settings.model_validate(method.tiny), SEED, str(prepared))
            context = TrialContext(**{**vars(context), "prepared": {SEED: str(prepared)}})
        self.contexts[name] = context
        return context

    def config(self, name: str) -> dict:
        return {**METHODS[name].tiny, "checkpoint_every_s": 0.0, "seed": SEED}

    def session(self, name: str):
        if name not in self.sessions:
            method, context = METHODS[name], self.context(name)
            folder = self.folder / name
            self.sessions[name] = run_in_session(method.trainable, self.config(name), context, folder)
        return self.sessions[name]

    def final_posterior(self, name: str) -> Path:
        return self.session(name).checkpoints[-1] / POSTERIOR_DIR


@pytest.fixture(scope="module")
def trials(tmp_path_factory) -> Trials:
    return Trials(tmp_path_factory.mktemp("contract"))


@pytest.fixture(scope="module")
def validation():
    return load_dataset("digits", {}).val


NAMES = sorted(METHODS)


@pytest.mark.parametrize("name", NAMES)
def test_settings_validate_and_reject_unknown_keys(name):
    method = METHODS[name]
    settings = method.settings.model_validate(method.tiny)
    assert method.settings.from_config({**settings.model_dump(), "seed": SEED}) == settings
    with pytest.raises(ValidationError, match="no_such_setting"):
        method.settings.model_validate({"no_such_setting": 1})


@pytest.mark.parametrize("name", NAMES)
def test_a_tiny_trial_reports_every_step_and_ends_with_a_checkpoint(name, trials):
    reports = trials.session(name).reports
    metrics, checkpoint = reports[-1]
    assert metrics[COMPLETE] and not metrics[DIVERGED]
    assert math.isfinite(metrics["val_elpd"]) and checkpoint is not None
    assert not any(report[COMPLETE] for report, _ in reports[:-1])
    if len(reports) > 1:
        assert [report["epoch"] for report, _ in reports] == list(range(1, len(reports) + 1))


@pytest.mark.parametrize("name", NAMES)
def test_the_checkpoint_predicts_the_documented_shape_and_the_reported_elpd(
    name, trials, validation, tmp_path
):
    method = METHODS[name]
    metrics = trials.session(name).reports[-1][0]
    posterior = method.posterior.load(trials.final_posterior(name), "cpu", validation.inputs)
    assert isinstance(posterior, Posterior)
    samples = method.settings.model_validate(method.tiny).model_dump().get("val_samples", 1)
    samples = min(samples, metrics.get("kept_samples", samples))
    generator = torch.Generator().manual_seed(SEED)
    log_probs = posterior.predict(validation.inputs, samples, generator)
    expected_samples = 1 if posterior.deterministic else samples
    assert log_probs.shape == (expected_samples, len(validation.labels), 10)
    torch.testing.assert_close(log_probs.logsumexp(-1), torch.zeros(log_probs.shape[:2]), atol=1e-4, rtol=0)
    assert lpd(log_probs.float(), validation.labels.numpy()) == pytest.approx(metrics["val_elpd"], abs=1e-4)
    copied = method.posterior.load(posterior.save(tmp_path / "copy"), "cpu", validation.inputs)
    again = copied.predict(validation.inputs, samples, torch.Generator().manual_seed(SEED))
    torch.testing.assert_close(again, log_probs)


@pytest.mark.parametrize("name", NAMES)
def test_a_trial_resumed_from_its_first_checkpoint_continues_after_it(name, trials, tmp_path):
    session = trials.session(name)
    index = next(index for index, (_, kept) in enumerate(session.reports) if kept is not None)
    metrics, first = session.reports[index]
    resumed = run_in_session(
        METHODS[name].trainable, trials.config(name), trials.context(name), tmp_path, resume_from=first
    )
    if metrics[COMPLETE]:  # restored from its final checkpoint: that report again, nothing trained or saved
        assert len(resumed.reports) == 1 and resumed.reports[0][1] is None
        assert resumed.reports[0][0]["epoch"] == metrics["epoch"]
    else:
        later = [report["epoch"] for report, _ in session.reports[index + 1 :]]
        assert [report["epoch"] for report, _ in resumed.reports] == later
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
    assert method.passes.per_trial(long) == 2 * method.passes.per_trial(short)
