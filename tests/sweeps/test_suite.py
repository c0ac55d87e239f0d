"""Suites: one sweep file over datasets × splits × seeds, one Tuner per stage, selection and ensembles
per (dataset, split), and a table of the mean ± s.e. over splits."""

import json
import logging

import mlflow
import pandas as pd
import pytest
from fake_data import write_uci
from sweep_files import write_sweep

from bdlsweep.analysis import results
from bdlsweep.cli import main
from bdlsweep.storage.layout import SweepLayout
from bdlsweep.sweeps.mlflow_sync import sync_mlflow
from bdlsweep.sweeps.pipeline import run_sweep
from bdlsweep.sweeps.reading.errors import SpecError
from bdlsweep.sweeps.spec.loading import load_spec

SUITE = {
    "name": "uci_suite",
    "dataset": {"name": "uci", "dataset": ["concrete", "yacht"], "split": "range(3)"},
    "model": {"name": "mlp", "hidden": [16]},
    "seeds": [1, 2, 3],
    "stages": {
        "map": {
            "method": "map",
            "epochs": 4,
            "batch_size": 16,
            "optimizer": {"name": "adam", "lr": 0.01},
            "checkpoint_every_s": 0,
        },
        "llla": {
            "method": "llla",
            "from": "map",
            "val_samples": 4,
            "search": {"prior_precision": [1.0, 10.0]},
        },
    },
    "evaluate": {
        "methods": ["map", "llla"],
        "ensemble_sizes": [1, 2],
        "ensembles_per_size": 2,
        "num_posterior_samples": 4,
        "splits": ["test"],
    },
}
CELLS = [f"dataset={name},split={split}" for name in ("concrete", "yacht") for split in range(3)]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("uci")
    write_uci(root, "concrete", rows=60)
    write_uci(root, "yacht", rows=60)
    return root


def _write(tmp_path, sweep: dict) -> str:
    path = write_sweep(tmp_path, sweep, f"{sweep['name']}.yaml")
    return str(path)


def test_list_valued_options_expand_into_named_cells_crossed_with_the_seeds(tmp_path, data_dir, capsys):
    path = _write(tmp_path, SUITE)
    spec = load_spec(path, [f"data_dir={data_dir}", f"storage={tmp_path / 'out'}"])
    assert [cell.name for cell in spec.cells] == CELLS
    cell = spec.cells[4]
    assert cell.dataset_options["dataset"] == "yacht" and cell.dataset_options["split"] == 1
    assert cell.axes == {"dataset.dataset": "yacht", "dataset.split": 1}
    assert spec.cells[0].model_options == {"hidden": [16]}  # a list its type takes is a value, not an axis
    layouts = [cell.layout for cell in spec.cell_specs()]
    assert (
        layouts[4].selection("map")
        == SweepLayout.at(tmp_path / "out").root / "selections" / CELLS[4] / "map.json"
    )
    assert main(["run", path, f"data_dir={data_dir}", f"storage={tmp_path / 'out'}", "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "suite: 6 datasets × models, each with 3 seeds, in one Tuner per stage" in plan
    assert "stage map (map): 18 trials (grid × seeds × cells" in plan
    assert (
        "stage llla (llla from map): 36 trials" in plan
        and "evaluate: map, llla; 5 ensembles per cell, 30 in all" in plan
    )
    assert not (tmp_path / "out").exists()


SUITE_ENTRIES = {
    **SUITE,
    "dataset": None,
    "suite": [
        {"name": "small", "dataset": {"name": "uci", "dataset": "concrete", "split": [0, 2]}},
        {"dataset": {"name": "uci", "dataset": "yacht"}, "model": {"name": "mlp", "hidden": [8, 8]}},
    ],
}


def test_suite_entries_name_their_cells_and_bad_axes_are_one_line_errors(tmp_path, data_dir):
    spec = load_spec(_write(tmp_path, SUITE_ENTRIES), [f"data_dir={data_dir}"])
    assert [cell.name for cell in spec.cells] == ["small,split=0", "small,split=2", "uci-mlp"]
    mixed = {**SUITE_ENTRIES, "suite": [*SUITE_ENTRIES["suite"], {"dataset": {"name": "digits"}}]}
    # a top-level data_dir goes to the cells whose dataset reads files
    cells = load_spec(_write(tmp_path, mixed), [f"data_dir={data_dir}"]).cells
    assert cells[0].dataset_options["data_dir"] == str(data_dir)
    assert "data_dir" not in cells[-1].dataset_options
    assert spec.cells[2].model_options == {"hidden": [8, 8]} and spec.cells[0].model_options == {
        "hidden": [16]
    }
    bad = [
        ({"dataset": {**SUITE["dataset"], "split": []}}, "dataset.split: an empty list"),
        ({"dataset": {**SUITE["dataset"], "split": "range(0)"}}, "dataset.split: range(0) is empty"),
        ({"dataset": {**SUITE["dataset"], "split": [1, 1]}}, "dataset.split: values repeat"),
        ({"dataset": {**SUITE["dataset"], "split": 7}}, "dataset.split: uci concrete has 3 splits"),
        ({"suite": [{"dataset": {"name": "uci"}, "modle": {}}]}, "suite[0].modle: unknown key"),
        (
            {"suite": [{"name": "a"}, {"name": "a"}], "dataset": {"name": "uci", "dataset": "yacht"}},
            "suite[1].name: 'a' names an earlier entry too",
        ),
        (
            {"stages": {"map": {**SUITE["stages"]["map"], "steps": 10, "epochs": None}}},
            "give epochs, not steps",
        ),
    ]
    for change, problem in bad:
        sweep = {**SUITE, **change}
        sweep["stages"] = {
            name: {k: v for k, v in stage.items() if v is not None} for name, stage in sweep["stages"].items()
        }
        with pytest.raises(SpecError, match="") as error:
            load_spec(_write(tmp_path, sweep), [f"data_dir={data_dir}"])
        assert problem in str(error.value) and len(str(error.value).splitlines()) == 1


@pytest.mark.slow
def test_a_suite_runs_every_cell_in_one_tuner_per_stage_and_each_cell_as_its_own_sweep(
    tmp_path, data_dir, ray_session, caplog, capsys
):
    spec = load_spec(_write(tmp_path, SUITE), [f"data_dir={data_dir}", f"storage={tmp_path / 'suite'}"])
    outcome = run_sweep(spec)
    storage = spec.storage
    for stage, count in (("map", 18), ("llla", 36)):
        assert SweepLayout(storage).tune_experiments(stage) == [storage / stage]  # one Tuner per stage
        trials = results.trials(storage, stage)
        assert len(trials) == count and trials.groupby("config/cell")[
            "config/seed"
        ].nunique().to_dict() == dict.fromkeys(CELLS, 3)
    assert set(outcome.cells) == set(CELLS)
    for name, cell in outcome.cells.items():
        assert set(cell.selections) == {"map", "llla"}
        for label, selection in cell.selections.items():
            assert sorted(selection.members) == [1, 2, 3]
            assert all(member.config["cell"] == name for member in selection.members.values())
            assert SweepLayout(storage, name).selection(label).is_file()
        assert set(cell.ensembles["method"]) == {"map", "llla"}
    table = pd.read_csv(SweepLayout(storage).table("csv").path)
    for dataset in ("concrete", "yacht"):
        group = f"uci {dataset} / mlp"
        final = []
        for split in range(3):
            frame = outcome.cells[f"dataset={dataset},split={split}"].ensembles
            final.append(frame[frame["split"] == "test"].groupby(["K", "method"])["test_rmse"].mean())
        per_split = pd.concat(final, axis=1)
        for row in table.itertuples():
            values = per_split.loc[(row.K, row.method)]
            assert table.loc[row.Index, f"{group} rmse mean"] == pytest.approx(values.mean())
            assert table.loc[row.Index, f"{group} rmse sem"] == pytest.approx(values.sem())

    runs = mlflow.MlflowClient(spec.tracking_uri).search_runs(
        [mlflow.MlflowClient(spec.tracking_uri).get_experiment_by_name(spec.experiment).experiment_id],
        filter_string="tags.run_kind = 'trial' and tags.stage = 'map'",
        max_results=1000,
    )
    assert sorted((run.data.tags["cell"], run.data.tags["seed"]) for run in runs) == sorted(
        (cell, str(seed)) for cell in CELLS for seed in (1, 2, 3)
    )
    client = mlflow.MlflowClient(spec.tracking_uri)
    (sweep_run,) = client.search_runs([runs[0].info.experiment_id], filter_string="tags.run_kind = 'sweep'")
    logged = {item.path for item in client.list_artifacts(sweep_run.info.run_id, "results")}
    assert {"results/table.md", "results/table.csv", "results/table.tex"} <= logged  # the suite's table
    evaluations = client.search_runs(
        [runs[0].info.experiment_id], filter_string="tags.run_kind = 'evaluation'"
    )
    assert sorted(run.data.tags["cell"] for run in evaluations) == sorted(CELLS)
    tagged = next(run for run in runs if run.data.tags["cell"] == CELLS[4])
    assert tagged.data.tags["dataset.dataset"] == "yacht" and tagged.data.tags["dataset.split"] == "1"

    single = {**SUITE, "name": "one_split", "dataset": {"name": "uci", "dataset": "yacht", "split": 1}}
    alone = run_sweep(
        load_spec(_write(tmp_path, single), [f"data_dir={data_dir}", f"storage={tmp_path / 'one'}"])
    )
    in_suite = outcome.cells[CELLS[4]].ensembles
    columns = ["method", "K", "ensemble_id", "num_samples", "split"]
    merged = alone.ensembles.merge(in_suite, on=columns, suffixes=("", "_suite"))
    assert len(merged) == len(alone.ensembles) == len(in_suite)
    for metric in ("test_rmse", "test_elpd"):
        assert merged[metric].to_numpy() == pytest.approx(merged[f"{metric}_suite"].to_numpy(), rel=1e-5)

    chosen = results.selections(storage)
    assert len(chosen) == 6 * 2 * 3 and set(chosen["cell"]) == set(CELLS)
    capsys.readouterr()
    assert main(["status", str(storage)]) == 0
    status = capsys.readouterr().out
    assert "stage map (map): done; 18 done" in status and "selected in 6 of 6 cells" in status
    assert "evaluation: done" in status
    assert main(["report", str(storage)]) == 0
    layout = SweepLayout(storage)
    assert (layout.report / "table.csv").read_text() == layout.table("csv").read_text()
    assert all(f"Cell {name}" in (layout.report / "report.html").read_text() for name in CELLS)

    caplog.clear()
    caplog.set_level(logging.INFO, logger="bdlsweep")
    run_sweep(spec)  # run again: everything is found done
    assert (
        "stage map: finished earlier, skipped" in caplog.text
        and "stage llla: finished earlier, skipped" in caplog.text
    )
    record = json.loads(SweepLayout(storage).record.read_text())
    assert [cell["name"] for cell in record["cells"]] == CELLS

    SweepLayout(storage, CELLS[2]).selection("llla").delete()  # one cell's selection lost: the stage's
    caplog.clear()  # Tuner is restored (its trials had finished) and that cell selects as before
    again = run_sweep(spec)
    assert f"stage llla: resuming from {storage}/llla" in caplog.text
    before = {
        seed: member.trial_id for seed, member in outcome.cells[CELLS[2]].selections["llla"].members.items()
    }
    after = {
        seed: member.trial_id for seed, member in again.cells[CELLS[2]].selections["llla"].members.items()
    }
    assert after == before

    client = mlflow.MlflowClient(spec.tracking_uri)
    lost = [run for run in runs if run.data.tags["cell"] == CELLS[0]]
    for run in lost:  # as if the tracking server had been away while these trials ran
        client.delete_run(run.info.run_id)
    counts = sync_mlflow(spec)
    assert counts.runs_created == len(lost) == 3
    restored = client.search_runs(
        [runs[0].info.experiment_id], filter_string=f"tags.cell = '{CELLS[0]}' and tags.stage = 'map'"
    )
    assert sorted(run.data.tags["seed"] for run in restored) == ["1", "2", "3"]
    assert all(run.data.tags["dataset.split"] == "0" for run in restored)


def test_the_shipped_uci_sweep_plans_5_sets_by_20_published_splits(tmp_path, capsys):
    from repo_paths import ROOT

    for folder in ("bostonHousing", "concrete", "energy", "naval-propulsion-plant", "yacht"):
        write_uci(tmp_path / "data", folder, splits=20)
    sweep = ROOT / "sweeps" / "uci_regression.yaml"
    storage = tmp_path / "runs"
    assert main(["run", str(sweep), f"data_dir={tmp_path / 'data'}", f"storage={storage}", "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "suite: 100 datasets × models, each with 5 seeds, in one Tuner per stage" in plan
    assert (
        "cell dataset=boston,split=0: uci / mlp; its own settings: stages.map.epochs=300" in plan
        and "cell dataset=yacht,split=19: uci / mlp" in plan
    )
    assert "stage map (map): 500 trials (grid × seeds × cells)" in plan
    assert (
        "stage llla (llla from map): 10500 trials" in plan
        and "stage mc_dropout (mc_dropout): 2000 trials" in plan
    )
    assert not storage.exists()
    spec = load_spec(sweep, [f"data_dir={tmp_path / 'data'}"])
    assert spec.stages["llla"].settings.regression_head == "whole" and len(spec.cells) == 100
    # the subspace paper's per-set protocol (drbayes run_ucismall.sh): SGD, momentum 0.9, constant rate
    wanted = {  # set: (epochs, batch, weight decay, lr, swag_start, ESS temperature)
        "boston": (300, 30, 0.1, 1e-3, 200, 0.1),
        "concrete": (1000, 100, 0.01, 1e-3, 500, 10000.0),
        "energy": (1000, 100, 0.1, 1e-3, 500, 691 / 20),
        "naval": (1000, 100, 1e-4, 5e-4, 500, 10741 / 20),
        "yacht": (1000, 30, 1e-3, 1e-3, 500, 277 / 20),
    }
    for cell in spec.cell_specs():
        epochs, batch, decay, lr, start, temperature = wanted[cell.dataset_options["dataset"]]
        stages = {name: stage.settings for name, stage in cell.stages.items()}
        optimizer = stages["map"].optimizer
        assert (optimizer.name, optimizer.momentum, optimizer.nesterov) == ("sgd", 0.9, False)
        assert stages["map"].schedule.name == "constant" and stages["swag"].momentum == 0.9
        assert (stages["map"].epochs, stages["map"].batch_size, optimizer.weight_decay, optimizer.lr) == (
            epochs,
            batch,
            decay,
            lr,
        )
        assert stages["pre_swag"].epochs == start and stages["pre_swag"].optimizer == optimizer
        assert stages["swag"].epochs == epochs - start and stages["swag"].lr == lr
        assert (stages["swag"].batch_size, stages["swag"].weight_decay) == (batch, decay)
        assert stages["subspace"].likelihood_temperature == pytest.approx(temperature, rel=1e-3)
        assert stages["subspace"].rank == stages["swag"].rank == 20


def test_a_suites_storage_refuses_other_cells_once_it_holds_results(tmp_path, data_dir):
    from bdlsweep.sweeps.running.storage_guard import check_storage, record_sweep

    path = _write(tmp_path, SUITE)
    overrides = [f"data_dir={data_dir}", f"storage={tmp_path / 'out'}"]
    spec = load_spec(path, overrides)
    record_sweep(spec)
    SweepLayout(spec.storage, CELLS[0]).selection("map").write_text("{}")  # it has results now
    check_storage(spec)  # the same cells: resumable
    fewer = load_spec(path, [*overrides, "dataset.split=range(2)"])
    with pytest.raises(SpecError, match="made with a different cells"):
        check_storage(fewer)
