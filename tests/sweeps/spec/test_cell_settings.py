"""Per-cell settings: a suite entry or a ``settings_by`` value sets stage and evaluate options for its
cells, validated like the sweep file's, planned and run per cell, and kept in the record and MLflow."""

import copy
import json

import mlflow
import pytest
from fake_data import write_uci
from ray.tune.search.variant_generator import generate_variants
from sweep_files import write_sweep

from bdlsweep.cli import main
from bdlsweep.sweeps.cost.training_cost import stage_costs
from bdlsweep.sweeps.pipeline import run_sweep
from bdlsweep.sweeps.reading.errors import SpecError
from bdlsweep.sweeps.running.experiments import experiments
from bdlsweep.sweeps.spec.loading import load_spec
from bdlsweep.trainables.runtime.suite_cell import CELL

SUITE = {
    "name": "per_cell",
    "model": {"name": "mlp", "hidden": [8]},
    "suite": [
        {
            "name": "boston",
            "dataset": {"name": "uci", "dataset": "boston", "split": [0, 1]},
            "stages": {"map": {"epochs": 3, "batch_size": 30, "optimizer": {"weight_decay": 0.1}}},
        },
        {"name": "yacht", "dataset": {"name": "uci", "dataset": "yacht"}},
    ],
    "seeds": [1, 2],
    "stages": {
        "map": {
            "method": "map",
            "epochs": 2,
            "batch_size": 16,
            "optimizer": {"name": "sgd", "lr": 0.001, "weight_decay": 0.001},
            "schedule": {"name": "constant"},
            "checkpoint_every_s": 0,
        },
        "llla": {
            "method": "llla",
            "from": "map",
            "val_samples": 3,
            "search": {"prior_precision": [1.0, 10.0]},
        },
    },
    "evaluate": {
        "methods": ["map", "llla"],
        "ensemble_sizes": [1],
        "num_posterior_samples": 3,
        "splits": ["test"],
    },
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("uci")
    write_uci(root, "bostonHousing", rows=60)
    write_uci(root, "yacht", rows=60)
    return root


def _load(tmp_path, data_dir, sweep, *overrides):
    path = write_sweep(tmp_path, sweep, "sweep.yaml")
    return load_spec(path, [f"data_dir={data_dir}", f"storage={tmp_path / 'out'}", *overrides])


def _map_settings(spec):
    return {cell.cell: cell.stages["map"].settings for cell in spec.cell_specs()}


def test_a_suite_entry_sets_stage_options_for_its_cells_alone(tmp_path, data_dir):
    spec = _load(tmp_path, data_dir, SUITE)
    settings = _map_settings(spec)
    assert [settings[name].epochs for name in settings] == [3, 3, 2]
    boston = settings["boston,split=0"]
    assert boston.batch_size == 30 and boston.optimizer.weight_decay == 0.1
    assert boston.optimizer.lr == 0.001 and boston.optimizer.name == "sgd"  # the rest from the stage
    assert settings["yacht"] == spec.stages["map"].settings
    assert spec.cells[0].settings == {"stages": SUITE["suite"][0]["stages"]}
    assert spec.cells[2].settings == {}
    record = json.loads(spec.model_dump_json())
    assert record["cells"][0]["settings"]["stages"]["map"]["epochs"] == 3
    costs = {cost.stage: cost for cost in stage_costs(spec)}
    assert costs["map"].trials == 6 and costs["map"].epochs == 3 * 4 + 2 * 2


def test_settings_by_sets_options_per_axis_value_over_the_suite_entry(tmp_path, data_dir):
    sweep = copy.deepcopy(SUITE)
    sweep["settings_by"] = {
        "dataset.split": {1: {"stages": {"map": {"epochs": 5}}}},
        "dataset.dataset": {
            "yacht": {"stages": {"llla": {"val_samples": 7}}, "evaluate": {"stratified": False}}
        },
    }
    spec = _load(tmp_path, data_dir, sweep)
    settings = _map_settings(spec)
    assert [settings[name].epochs for name in settings] == [3, 5, 2]
    assert settings["boston,split=1"].batch_size == 30  # the entry's options stay
    cells = {cell.cell: cell for cell in spec.cell_specs()}
    assert cells["yacht"].stages["llla"].settings.val_samples == 7
    assert cells["boston,split=0"].stages["llla"].settings.val_samples == 3
    assert cells["yacht"].evaluate.stratified is False and cells["boston,split=0"].evaluate.stratified is True
    # a value that no cell of this run has (narrowed by an override, say) sets nothing and is no error
    sweep["settings_by"]["dataset.dataset"]["concrete"] = {"stages": {"map": {"epochs": 9}}}
    assert _map_settings(_load(tmp_path, data_dir, sweep)) == settings


def test_trials_of_one_tuner_get_their_own_cells_settings(tmp_path, data_dir):
    spec = _load(tmp_path, data_dir, SUITE)
    (experiment,) = experiments(spec, spec.stages["map"])
    configs = [{"config": config} for _, config in generate_variants(experiment.param_space)]
    assert len(configs) == 2 * 3  # seeds × cells
    epochs = {
        (config["config"][CELL], config["config"]["seed"]): config["config"]["epochs"] for config in configs
    }
    assert epochs == {(cell, seed): 2 if cell == "yacht" else 3 for cell, seed in epochs}
    for config in configs:
        wanted = 0.1 if config["config"][CELL].startswith("boston") else 0.001
        assert config["config"]["optimizer"]["weight_decay"] == wanted
        assert config["config"]["optimizer"]["lr"] == 0.001


def _with(change):
    sweep = copy.deepcopy(SUITE)
    change(sweep)
    return sweep


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda s: s["suite"][0]["stages"]["map"].update(epochs=-1),
            "suite[0].stages.map.epochs: Input should be greater than 0",
        ),
        (
            lambda s: s["suite"][0]["stages"]["map"].update(optimizer={"nmae": "adam"}),
            "suite[0].stages.map.optimizer.nmae",
        ),
        (
            lambda s: s["suite"][0]["stages"].update(mpa={"epochs": 2}),
            "suite[0].stages: no stage named 'mpa'",
        ),
        (
            lambda s: s["suite"][0]["stages"].update(llla={"search": {"prior_precision": [1.0]}}),
            "suite[0].stages.llla.search: the same for every cell",
        ),
        (
            lambda s: s["suite"][0]["stages"].update(llla={"prior_precision": 3.0}),
            "suite[0].stages.llla.prior_precision: stage llla searches prior_precision",
        ),
        (
            lambda s: s["suite"][1].update(evaluate={"methods": ["map"]}),
            "suite[1].evaluate.methods: the same for every cell",
        ),
        (
            lambda s: s["suite"][1].update(evaluate={"num_posterior_samples": 0}),
            "suite[1].evaluate.num_posterior_samples",
        ),
        (lambda s: s["suite"][1].update(stages=[1]), "suite[1].stages: must be a mapping of stage names"),
        (
            lambda s: s.update(
                settings_by={"dataset.dataset": {"yatch": {"stages": {"map": {"epochs": 1}}}}}
            ),
            "settings_by.dataset.dataset.yatch: 'yatch' is not a value of dataset.dataset",
        ),
        (
            lambda s: s.update(settings_by={"dataset.spilt": {1: {"stages": {"map": {"epochs": 1}}}}}),
            "settings_by.dataset.spilt: no cell's dataset has this option",
        ),
        (
            lambda s: s.update(settings_by={"stages.map": {"x": {}}}),
            "settings_by.stages.map: name a dataset or model option",
        ),
        (
            lambda s: s.update(settings_by={"dataset.split": {0: {"stages": {"map": {"batch_size": 0}}}}}),
            "settings_by.dataset.split.0.stages.map.batch_size",
        ),
    ],
)
def test_bad_cell_settings_are_one_line_errors_at_the_key_that_set_them(tmp_path, data_dir, change, message):
    with pytest.raises(SpecError) as error:
        _load(tmp_path, data_dir, _with(change))
    assert message in str(error.value), str(error.value)
    assert len(str(error.value).splitlines()) == 1


def test_the_dry_run_shows_each_cells_own_settings(tmp_path, data_dir, capsys):
    path = write_sweep(tmp_path, SUITE, "sweep.yaml")
    assert main(["run", str(path), f"data_dir={data_dir}", f"storage={tmp_path / 'out'}", "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert (
        "cell boston,split=0: uci / mlp; its own settings: stages.map.epochs=3, stages.map.batch_size=30, "
        "stages.map.optimizer.weight_decay=0.1" in plan
    )
    assert "cell yacht: uci / mlp\n" in plan
    assert "stage map (map): 6 trials" in plan and "16 epochs" in plan


@pytest.mark.slow
def test_a_suite_runs_each_cell_with_its_own_settings_and_records_them(tmp_path, data_dir, ray_session):
    spec = _load(tmp_path, data_dir, SUITE)
    outcome = run_sweep(spec)
    assert set(outcome.cells) == {"boston,split=0", "boston,split=1", "yacht"}
    mlflow.set_tracking_uri(spec.tracking_uri)
    runs = mlflow.search_runs(experiment_names=[spec.experiment], filter_string="tags.stage = 'map'")
    trials = runs[runs["tags.run_kind"] == "trial"]
    assert len(trials) == 6
    for _, run in trials.iterrows():
        boston = run["tags.cell"].startswith("boston")
        assert run["params.epochs"] == ("3" if boston else "2")
        assert run["params.optimizer.weight_decay"] == ("0.1" if boston else "0.001")
        assert (run.get("tags.cell_settings.stages.map.epochs") == "3") == boston
        assert float(run["metrics.epoch"]) == (3 if boston else 2)
    record = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert record["cells"][0]["settings"] == {"stages": SUITE["suite"][0]["stages"]}


def test_the_command_line_has_the_last_word_over_every_cells_settings(tmp_path, data_dir):
    sweep = copy.deepcopy(SUITE)
    sweep["settings_by"] = {"dataset.dataset": {"yacht": {"stages": {"llla": {"val_samples": 7}}}}}
    spec = _load(tmp_path, data_dir, sweep, "stages.map.epochs=1", "~stages.llla", "evaluate.methods=[map]")
    assert {settings.epochs for settings in _map_settings(spec).values()} == {1}
    assert _map_settings(spec)["boston,split=0"].batch_size == 30  # options not overridden stay
    assert spec.cells[0].settings == {
        "stages": {"map": {"batch_size": 30, "optimizer": {"weight_decay": 0.1}}}
    }
    assert spec.cells[2].settings == {} and list(spec.stages) == ["map"]
