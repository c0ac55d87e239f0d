"""A SWAG grid too large for a small regression set: its selection is flagged as worse than the MAP it
starts from (console, status, report, MLflow tag), its blown-up trial named, and with
``selection.require_better_than_parent`` the stage fails. The table names set, split and model, and
the runs say which units their metrics are in."""

import logging

import mlflow
import pytest
from sweep_files import write_sweep

from bdlsweep.analysis.report import build_report
from bdlsweep.cli import main
from bdlsweep.sweeps.pipeline import run_sweep
from bdlsweep.sweeps.spec.loading import load_spec

BLOWN_UP = {
    "name": "blown_up",
    "dataset": {"name": "diabetes"},
    "model": {"name": "mlp", "hidden": [32]},
    "seeds": [1],
    "stages": {
        "map": {"method": "map", "epochs": 10, "batch_size": 32, "optimizer": {"name": "adam", "lr": 0.003}},
        "swag": {
            "method": "swag",
            "from": "map",
            "epochs": 2,
            "rank": 2,
            "batch_size": 32,
            "val_samples": 4,
            "search": {"lr": [0.1, 0.3, 1.0]},  # 1.0: validation RMSE ~40 standardised units, still finite
        },
    },
    "evaluate": {"methods": ["map", "swag"], "num_posterior_samples": 2, "splits": ["test"]},
}


@pytest.mark.slow
def test_a_swag_grid_that_blows_up_is_flagged_and_fails_the_stage_when_required(
    tmp_path, ray_session, caplog, capsys
):
    path = write_sweep(tmp_path, BLOWN_UP, "blown_up.yaml")
    storage = tmp_path / "sweep"
    caplog.set_level(logging.WARNING, logger="bdlsweep.sweeps.running.stage")
    spec = load_spec(path, [f"storage={storage}"])
    run_sweep(spec)
    warned = [record.getMessage() for record in caplog.records]
    worse = next(line for line in warned if line.startswith("swag is worse on validation than the map"))
    assert "seed 1 val_elpd=" in worse  # selected at the grid's lowest rate, so the hint points below it
    assert worse.endswith("lr was selected at its grid's lowest value: extend the grid below it")
    blown = next(line for line in warned if "orders of magnitude above the seed's median val_rmse" in line)
    assert blown.startswith("swag: seed 1 has trials") and blown.count("val_rmse=") == 2  # median and lr=1.0

    assert main(["status", str(storage)]) == 0
    status = capsys.readouterr().out
    assert f"warning: {worse}" in status and f"warning: {blown}" in status
    report = build_report(storage).folder
    html = (report / "report.html").read_text()
    assert "<h2>Warnings</h2>" in html and "stage swag: swag is worse on validation than the map" in html
    table = (report / "table.md").read_text()
    assert "diabetes split_seed=0 / mlp RMSE" in table  # set, split, model
    footnote = "† SWAG: worse on validation than the map it starts from for seed 1 of 1"
    assert "| 1 | SWAG † |" in table and footnote in table
    assert footnote in (storage / "results" / "table.md").read_text()
    assert "SWAG$^\\dagger$" in (report / "table.tex").read_text() and footnote in html
    mlflow.set_tracking_uri(spec.tracking_uri)
    runs = mlflow.search_runs(experiment_names=[spec.experiment])
    stage_run = runs[(runs["tags.run_kind"] == "stage") & (runs["tags.stage_name"] == "swag")].iloc[0]
    assert stage_run["tags.worse_than_parent.swag.0"] == worse
    assert stage_run["tags.outliers.swag.0"] == blown
    trial_units = runs[runs["tags.run_kind"] == "trial"]["tags.units.val"]
    assert len(trial_units) == 4 and (trial_units == "standardised targets").all()
    assert (runs[runs["tags.run_kind"] == "evaluation"]["tags.units.test"] == "target units").all()

    for label in ("swag", "swa"):
        spec.layout.selection(label).delete()
    strict = load_spec(path, [f"storage={storage}", "selection.require_better_than_parent=true"])
    with pytest.raises(RuntimeError, match=r"stage swag: swag is worse on validation than the map .*seed 1"):
        run_sweep(strict)
    assert not spec.layout.selection("swag").is_file()
    capsys.readouterr()
    assert main(["status", str(storage)]) == 1  # the refusal is a failed stage, and says why
    status = capsys.readouterr().out
    assert "stage swag (swag): failed;" in status
    assert "warning: failed: stage swag: swag is worse on validation than the map" in status
