"""``refit: true``: a selected configuration trained again on train + validation, evaluated instead."""

import json
import logging

import mlflow
import pytest
import torch
import yaml

from bdlsweep.analysis import results
from bdlsweep.cli import main
from bdlsweep.sweeps.pipeline import run_sweep
from bdlsweep.sweeps.spec import load_spec
from bdlsweep.trainables.data.molecules import Molecules
from bdlsweep.trainables.data.splits import DatasetSplits, LabelledSet, with_validation_in_training
from bdlsweep.trainables.posteriors.checkpoint import read_metadata
from bdlsweep.trainables.runtime.context import TrialContext

SWEEP = {
    "name": "refit",
    "dataset": {"name": "digits"},
    "model": {"name": "mlp", "hidden": [32]},
    "seeds": [1, 2],
    "stages": {
        "map": {"method": "map", "epochs": 4, "batch_size": 64, "search": {"optimizer.lr": [0.05, 0.2]}},
        "swag": {"method": "swag", "from": "map", "epochs": 2, "rank": 2, "val_samples": 2},
        "llla": {
            "method": "llla",
            "from": "map",
            "val_samples": 3,
            "search": {"prior_precision": [1.0, 10.0]},
        },
    },
    "evaluate": {
        "methods": ["map", "swag", "llla"],
        "ensemble_sizes": [1, 2],
        "ensembles_per_size": 1,
        "num_posterior_samples": 2,
        "splits": ["test"],
    },
}


def test_a_refit_trains_on_the_training_and_validation_sets_and_leaves_test_apart():
    plain = TrialContext("s", "map", "digits", {}, "mlp", {}).load_data()
    refit = TrialContext("s", "map", "digits", {}, "mlp", {}, refit=True).load_data()
    assert torch.equal(refit.train.inputs, torch.cat([plain.train.inputs, plain.val.inputs]))
    assert torch.equal(refit.train.labels, torch.cat([plain.train.labels, plain.val.labels]))
    for split in ("val", "test"):  # evaluated as before; the test set is nowhere in training
        assert torch.equal(getattr(refit, split).inputs, getattr(plain, split).inputs)
    assert len(refit.train) == len(plain.train) + len(plain.val)


def test_molecules_of_validation_join_the_training_molecules():
    def molecules(sizes):
        return Molecules.from_list([torch.ones(n) for n in sizes], [torch.zeros(n, 3) for n in sizes])

    train, val = (
        LabelledSet(molecules([2, 3]), torch.zeros(2, 1)),
        LabelledSet(molecules([4]), torch.ones(1, 1)),
    )
    joined = with_validation_in_training(DatasetSplits(train, val, val, 1, "regression")).train
    assert len(joined) == 3 and joined.inputs.counts.tolist() == [2, 3, 4]
    assert joined.labels.ravel().tolist() == [0.0, 0.0, 1.0]


@pytest.mark.slow
def test_refit_stages_train_again_on_train_and_validation_and_evaluation_uses_them(
    tmp_path, ray_session, caplog, capsys
):
    raw = yaml.safe_load(yaml.safe_dump(SWEEP))
    for stage in raw["stages"].values():
        stage["refit"] = True
    path = tmp_path / "refit.yaml"
    path.write_text(yaml.safe_dump(raw))
    spec = load_spec(path, [f"storage={tmp_path / 'sweep'}"])
    outcome = run_sweep(spec)

    assert set(outcome.refits) == {"map", "swag", "swa", "llla"}
    for label, refit in outcome.refits.items():
        selected = outcome.selections[label]
        for seed, member in refit.members.items():
            assert member.metrics["refit_of"] == selected.members[seed].trial_id
            assert member.metrics["val_elpd"] == selected.members[seed].metrics["val_elpd"]  # selection's
            assert member.checkpoint != selected.members[seed].checkpoint
            assert f"/{selected.stage}/refit/" in member.checkpoint
    for seed, member in outcome.refits["map"].members.items():  # MAP: as many epochs as its kept one
        assert member.config["epochs"] == outcome.selections["map"].members[seed].metrics["epoch"]
        assert member.config["optimizer"] == outcome.selections["map"].members[seed].config["optimizer"]
    stored = json.loads(spec.layout.refit_selection("swag").read_text())
    assert stored["members"]["1"]["checkpoint"].startswith("swag/refit/")  # relative to the storage root

    for seed in spec.seeds:  # LLLA's Hessian again, on train + validation, around MAP's refit
        prepared = read_metadata(str(spec.layout.refit_prepared("llla", seed)))
        assert prepared["base"] == outcome.refits["map"].members[seed].checkpoint
        assert read_metadata(str(spec.layout.prepared("llla", seed)))["base"] == (
            outcome.selections["map"].members[seed].checkpoint
        )

    evaluated = json.loads(spec.layout.evaluation_settings.read_text())["members"]
    for label in ("map", "swag", "llla"):
        refit = outcome.refits[label].checkpoints()
        assert evaluated[label] == {str(seed): spec.layout.relative(refit[seed]) for seed in refit}

    mlflow.set_tracking_uri(spec.tracking_uri)
    runs = mlflow.search_runs(experiment_names=[spec.experiment])
    refit_runs = runs[runs["tags.refit"] == "true"]
    assert sorted(refit_runs["tags.stage"]) == [
        "llla",
        "llla",
        "map",
        "map",
        "swag",
        "swag",
    ]  # SWA, SWAG: one
    assert set(refit_runs["status"]) == {"FINISHED"}
    stage_runs = runs[runs["tags.run_kind"] == "stage"].set_index("tags.stage_name")["run_id"]
    parents = refit_runs["tags.mlflow.parentRunId"]
    assert (parents == refit_runs["tags.stage"].map(stage_runs)).all()  # nested under their stage's run
    assert len(results.trials(spec.storage, "map")) == 4  # the stage's own trials, refits apart

    assert main(["status", str(spec.storage)]) == 0
    assert capsys.readouterr().out.count("refit on train + validation: done") == 3

    caplog.set_level(logging.INFO, logger="bdlsweep")
    run_sweep(spec)
    assert "stage swag: refit earlier, skipped" in caplog.text
    assert len(mlflow.search_runs(experiment_names=[spec.experiment])) == len(runs)
