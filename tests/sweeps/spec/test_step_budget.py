"""``steps:`` gives a stage's training length in optimiser steps: whole epochs of the training set."""

import math

import pytest
import torch
from repo_paths import ROOT

from bdlsweep.cli import main
from bdlsweep.sweeps.reading.errors import SpecError
from bdlsweep.sweeps.spec.loading import load_spec
from bdlsweep.sweeps.spec.step_budget import epochs_for_steps
from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.runtime.training import batches

QUICKSTART = ROOT / "sweeps" / "quickstart.yaml"
SAMPLING = ROOT / "sweeps" / "digits_sampling.yaml"
MAP_IN_STEPS = ["~stages.map.epochs", "stages.map.steps=100"]


@pytest.mark.parametrize(("train_size", "batch_size"), [(1000, 32), (1097, 64), (64, 64), (10, 128)])
@pytest.mark.parametrize("steps", [1, 31, 32, 100])
def test_steps_are_the_fewest_whole_epochs_of_the_training_loop_that_make_them(steps, train_size, batch_size):
    inputs, labels = torch.zeros(train_size, 1), torch.zeros(train_size)
    per_epoch = sum(1 for _ in batches(inputs, labels, batch_size, torch.Generator().manual_seed(0)))
    epochs = epochs_for_steps(steps, batch_size, train_size)
    assert epochs * per_epoch >= steps and (epochs - 1) * per_epoch < steps


def test_a_stage_in_steps_trains_for_its_epochs_of_the_sweeps_training_set():
    spec = load_spec(QUICKSTART, MAP_IN_STEPS)
    stage = spec.stages["map"]
    train = len(load_dataset("digits", {}).train)
    assert stage.steps == 100 and stage.settings.batch_size == 64
    assert stage.settings.epochs == math.ceil(100 / math.ceil(train / 64))
    assert spec.stages["swag"].steps is None and spec.stages["swag"].settings.epochs == 10  # as in the file
    assert spec.model_dump(mode="json")["stages"]["map"]["steps"] == 100  # kept in the sweep record
    smaller = load_spec(QUICKSTART, [*MAP_IN_STEPS, "dataset.val_size=700", "dataset.test_size=700"])
    fewer = len(load_dataset("digits", smaller.dataset_options).train)
    assert fewer < train / 2
    assert smaller.stages["map"].settings.epochs == math.ceil(100 / math.ceil(fewer / 64))
    assert smaller.stages["map"].settings.epochs > stage.settings.epochs  # same steps, more epochs


def test_the_dry_run_shows_the_steps_and_the_epochs_they_make(capsys):
    assert main(["run", str(QUICKSTART), *MAP_IN_STEPS, "--dry-run"]) == 0
    epochs = load_spec(QUICKSTART, MAP_IN_STEPS).stages["map"].settings.epochs
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("stage map "))
    assert f"100 steps = {epochs} epochs of batch 64" in line


@pytest.mark.parametrize(
    ("sweep", "overrides", "problem"),
    [
        (QUICKSTART, ["stages.map.steps=100"], r"stages\.map\.steps: give steps or epochs, not both"),
        (QUICKSTART, ["stages.llla.steps=100"], r"stages\.llla\.steps: method llla does not train in epochs"),
        (
            QUICKSTART,
            [*MAP_IN_STEPS, "stages.map.search={batch_size: [32, 64]}"],
            r"stages\.map\.steps: steps count epochs of one batch size; batch_size is searched",
        ),
        (QUICKSTART, ["~stages.map.epochs", "stages.map.steps=0"], r"stages\.map\.steps: .*greater than 0"),
        (
            SAMPLING,
            ["~stages.sgld.epochs", "stages.sgld.steps=20"],
            r"stages\.sgld\.steps: 20 steps are 2 epochs of \d+ examples: burn_in \(10\) must be below",
        ),
    ],
)
def test_a_step_budget_that_cannot_hold_is_a_one_line_error(sweep, overrides, problem, capsys):
    with pytest.raises(SpecError, match=problem):
        load_spec(sweep, overrides)
    assert main(["run", str(sweep), *overrides, "--dry-run"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "steps" in error
