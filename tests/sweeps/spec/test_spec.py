"""Sweep files: overrides, typed settings, and bad input reported as one line with exit code 2."""

import shutil
from pathlib import Path

import pytest
import yaml
from repo_paths import ROOT
from sweep_files import write_sweep

from bdlsweep.cli import main
from bdlsweep.sweeps.reading.errors import SpecError
from bdlsweep.sweeps.spec.loading import load_spec

QUICKSTART = ROOT / "sweeps" / "quickstart.yaml"


def _write(tmp_path, mutate) -> Path:
    raw = yaml.safe_load(QUICKSTART.read_text())
    raw["storage"] = str(tmp_path / "storage")
    mutate(raw)
    path = write_sweep(tmp_path, raw, "sweep.yaml")
    return path


def test_quickstart_with_overrides():
    spec = load_spec(QUICKSTART, ["seeds=3", "stages.swag.epochs=5", "stages.map.optimizer.lr=0.1"])
    assert spec.seeds == [1, 2, 3]
    assert spec.stages["swag"].settings.epochs == 5
    assert spec.stages["map"].settings.optimizer.lr == 0.1
    assert list(spec.stages) == ["map", "swag", "llla", "laplace_nf", "mc_dropout"]
    assert spec.stages["llla"].search["prior_precision"][0] == pytest.approx(1e-4)
    assert spec.tracking_uri == f"sqlite:///{spec.storage}/mlflow.db"
    assert set(spec.selection_names()) == {"map", "swag", "swa", "llla", "laplace_nf", "mc_dropout"}


def test_a_tilde_override_removes_a_stage_and_a_dependent_stage_or_method_is_named():
    methods = "evaluate.methods=[map,swa,swag,llla,mc_dropout]"
    spec = load_spec(QUICKSTART, ["~stages.laplace_nf", methods])
    assert list(spec.stages) == ["map", "swag", "llla", "mc_dropout"]
    with pytest.raises(SpecError, match=r"evaluate\.methods\[4\]: 'laplace_nf' is not a stage"):
        load_spec(QUICKSTART, ["~stages.laplace_nf"])
    with pytest.raises(SpecError, match=r"stages\.swag\.from: no stage named 'map'"):
        load_spec(QUICKSTART, ["~stages.map"])


def test_inline_grid_and_seed_list():
    spec = load_spec(
        QUICKSTART, ["seeds=[5,9]", "stages.swag.search.lr=[0.1,0.2]", "evaluate.ensemble_sizes=[1,2]"]
    )
    assert spec.seeds == [5, 9]
    assert spec.stages["swag"].search == {"lr": [0.1, 0.2]}


BAD = [
    (lambda r: r["stages"]["swag"].update(epoch=5), "stages.swag.epoch", "did you mean 'epochs'"),
    (lambda r: r["stages"]["map"].update(epochs="many"), "stages.map.epochs", "valid integer"),
    (lambda r: r.pop("dataset"), "dataset", "missing"),
    (lambda r: r["dataset"].update(name="cifar11"), "dataset.name", "unknown dataset"),
    (lambda r: r["evaluate"].update(ensemble_sizes=[1, -2]), "evaluate.ensemble_sizes[1]", "K must be"),
    (
        lambda r: r["evaluate"].update(ensemble_sizes=[1, 9]),
        "evaluate.ensemble_sizes[1]",
        "larger than the number of seeds",
    ),
    (lambda r: r["stages"]["swag"].update(search={"lr": []}), "stages.swag.search.lr", "empty grid"),
    (lambda r: r["stages"]["swag"].update(method="swagg"), "stages.swag.method", "unknown method"),
    (lambda r: r["stages"]["swag"].update({"from": "mapp"}), "stages.swag.from", "no stage named"),
    (lambda r: r["evaluate"].update(methods=["map", "lanf"]), "evaluate.methods[1]", "not a stage"),
    (
        lambda r: (r["dataset"].update(name="diabetes"), r["stages"]["llla"].update(hessian="kron")),
        "stages.llla.hessian",
        "kron is not exact for regression_head: whole",
    ),
    (
        lambda r: r["stages"]["laplace_nf"].update({"from": "map"}),
        "stages.laplace_nf.from",
        "cannot start from",
    ),
    (lambda r: r["model"].update(hiden=[3]), "model.hiden", "did you mean 'hidden'"),
    (
        lambda r: r["evaluate"].update(predictive_plot=2),
        "evaluate.predictive_plot",
        "dataset digits has no 1-D input to plot over (these do: gap_1d, regression_1d)",
    ),
    (
        lambda r: r.update(dataset={"name": "gap_1d"}) or r["evaluate"].update(predictive_plot=9),
        "evaluate.predictive_plot",
        "K=9 is larger than the number of seeds",
    ),
    (lambda r: r.update(stage={}), "stage", "did you mean 'stages'"),
    (lambda r: r.update(seeds=[]), "seeds", "at least 1 item"),
    (lambda r: r.update(seeds="abc"), "seeds", "a list of seeds or their count N (seeds 1..N)"),
    (lambda r: r.update(seeds=[1, 1]), "seeds", "distinct"),
    (lambda r: r.update(seeds=0), "seeds", "must be in 1..10000"),
    (lambda r: r.update(name=""), "name", "at least 1 character"),
    (lambda r: r["stages"]["map"].update(epochs=-1), "stages.map.epochs", "greater than 0"),
    (lambda r: r["stages"]["map"].update(batch_size=0), "stages.map.batch_size", "greater than 0"),
    (
        lambda r: r["stages"]["map"].update(max_failures=-1),
        "stages.map.max_failures",
        "greater than or equal",
    ),
    (lambda r: r["stages"]["map"]["optimizer"].update(name="adamw2"), "stages.map.optimizer.name", "'sgd'"),
    (lambda r: r["stages"]["map"]["optimizer"].update(lr=-0.1), "stages.map.optimizer.lr", "greater than 0"),
    (lambda r: r["stages"]["map"].pop("method"), "stages.map.method", "required key is missing"),
    (
        lambda r: r["stages"]["llla"].update(hessian="fulll"),
        "stages.llla.hessian",
        "'full', 'diag' or 'kron'",
    ),
    (lambda r: r["stages"].update(map=3), "stages.map", "valid dictionary"),
    (lambda r: r.update(stages={}), "stages", "at least 1 item"),
    (
        lambda r: r["stages"]["swag"].update(search={"lrr": [0.1]}),
        "stages.swag.search.lrr",
        "did you mean 'lr'",
    ),
    (
        lambda r: r["stages"]["swag"].update(search={"lr": "digits_swag_lrr"}),
        "stages.swag.search.lr",
        "unknown search space 'digits_swag_lrr'",
    ),
    (lambda r: r["model"].update(name="resnet9000"), "model.name", "unknown model 'resnet9000'"),
    (lambda r: r.update(dataset={"name": "cifar10"}), "dataset.data_dir", "required key is missing"),
    (
        lambda r: r["evaluate"].update(num_posterior_samples=0),
        "evaluate.num_posterior_samples",
        "greater than 0",
    ),
    (
        lambda r: r["evaluate"].update(splits=["test", "val"]),
        "evaluate.splits[1]",
        "'test', 'shift' or 'ood'",
    ),
    (lambda r: r["evaluate"].update(subsample_sizes=[80]), "evaluate.subsample_sizes[0]", "1..num_posterior"),
    (lambda r: r["evaluate"].update(methods=[]), "evaluate.methods", "at least 1 item"),
    (lambda r: r["evaluate"].update(ensemble_file="nope.tsv"), "evaluate.ensemble_file", "file not found"),
    (
        lambda r: r["evaluate"].update(reference="hmc"),
        "evaluate.reference",
        "neither one of evaluate.methods",
    ),
    (lambda r: r["evaluate"].update(reference="hmc.npz"), "evaluate.reference", "file not found"),
    (
        lambda r: r["evaluate"].update(reference="map", splits=["shift", "ood"]),
        "evaluate.reference",
        "add test to evaluate.splits",
    ),
    (lambda r: r.update(mlflow={"experiments": "x"}), "mlflow.experiments", "did you mean 'experiment'"),
    (lambda r: r["stages"]["map"].update(resources={"gpu": -1}), "stages.map.resources.gpu", "greater than"),
    (
        lambda r: r.update(selection={"require_better_than_parent": "maybe"}),
        "selection.require_better_than_parent",
        "valid boolean",
    ),
    (lambda r: r.update(selection={"require_better": True}), "selection.require_better", "did you mean"),
]


NOT_ON_THIS_MACHINE = [
    (
        lambda r: r["stages"]["map"].update(resources={"cpu": 1, "gpu": 4}),
        "stages.map.resources",
        "asks for cpu=1, gpu=4 per trial but no node has that much",
    ),
    (
        lambda r: r["stages"]["llla"].update(resources={"cpu": 512}),
        "stages.llla.resources",
        "asks for cpu=512 per trial",
    ),
    (
        lambda r: r["stages"]["llla"].update(resources={"cpu": 1, "custom": {"accel": 1}}),
        "stages.llla.resources",
        "accel=1 per trial but no node has that much",
    ),
    (
        lambda r: r["evaluate"].update(resources={"cpu": 1, "gpu": 1}),
        "evaluate.resources",
        "gpu=1 per trial but no node has that much",
    ),
]


@pytest.mark.parametrize("dry_run", [False, True])
@pytest.mark.parametrize(("mutate", "key", "problem"), BAD)
def test_bad_sweep_file_exits_2_with_one_line(tmp_path, capsys, mutate, key, problem, dry_run):
    path = _write(tmp_path, mutate)
    assert main(["run", str(path), *(["--dry-run"] if dry_run else [])]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(path) in err and f": {key}: " in err and problem in err
    assert list(tmp_path.iterdir()) == [path]  # no storage, no MLflow store, nothing half written


def test_missing_data_stops_a_run_naming_every_file_and_a_dry_run_plans_without_it(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "cifar-10-batches-py").mkdir()
    (data / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"")
    path = _write(tmp_path, lambda r: r.update(dataset={"name": "cifar10", "data_dir": str(data)}))
    batches = [f"data_batch_{index}" for index in (1, 2, 4, 5)] + ["test_batch"]
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{path}: dataset.data_dir: data_dir {data}: missing" in err
    assert all(f"cifar-10-batches-py/{name}" in err for name in batches) and "data_batch_3" not in err
    assert "cifar-10-python.tar.gz (or dataset.download=true)" in err
    assert main(["run", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "stage map (map)" in out and "total: " in out  # the whole plan, then what a run would lack
    note = next(line for line in out.splitlines() if line.startswith("note: a run from here would stop"))
    assert note.endswith(err.removeprefix(f"error: {path}: "))
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["data", path.name]  # nothing written
    gone = _write(tmp_path, lambda r: r.update(dataset={"name": "cifar10", "data_dir": str(tmp_path / "no")}))
    assert main(["run", str(gone)]) == 2
    assert f"data_dir {tmp_path / 'no'} does not exist: missing" in capsys.readouterr().err


@pytest.mark.parametrize(("mutate", "key", "problem"), NOT_ON_THIS_MACHINE)
def test_resources_no_node_has_stop_a_run_and_are_noted_by_a_dry_run(tmp_path, capsys, mutate, key, problem):
    path = _write(tmp_path, mutate)
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{path}: {key}: " in err and problem in err
    assert list(tmp_path.iterdir()) == [path]
    assert main(["run", str(path), "--dry-run"]) == 0  # the plan of a cluster sweep, shown on a laptop
    assert f"note: a run from here would stop: {path}: {key}: " in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == [path]


BAD_OVERRIDES = [
    ("evaluate.ensemble_sizes=[0]", "evaluate.ensemble_sizes[0]", "K must be"),
    ("seeds", "seeds", "an override must look like key.path=value"),
    ("~stages.lanf", "stages.lanf", "cannot delete it: stages.lanf is not in the sweep file"),
    ("~stages.map.epochs=3", "~stages.map.epochs=3", "a deletion must look like ~key.path"),
    ("stages.swag.epochs=many", "stages.swag.epochs", "valid integer"),
    ("stages.swagg.epochs=3", "stages.swagg.method", "required key is missing"),
    ("evaluate.num_posterior_samples=-4", "evaluate.num_posterior_samples", "greater than 0"),
    ("stages.map.resources.gpu=8", "stages.map.resources", "gpu=8 per trial"),
]


@pytest.mark.parametrize(("override", "key", "problem"), BAD_OVERRIDES)
def test_bad_override_exits_2(tmp_path, capsys, override, key, problem):
    path = _write(tmp_path, lambda r: None)
    assert main(["run", str(path), override]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f": {key}: " in err and problem in err
    assert list(tmp_path.iterdir()) == [path]


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nseeds: [1, 2\n")
    with pytest.raises(SpecError, match=r"broken.yaml: line \d+: invalid YAML"):
        load_spec(path)


def test_yaml_is_read_safely(tmp_path):
    path = tmp_path / "unsafe.yaml"
    shutil.copy(QUICKSTART, path)
    path.write_text(
        path.read_text().replace("name: quickstart", "name: !!python/object/apply:os.system ['true']")
    )
    with pytest.raises(SpecError, match="invalid YAML"):
        load_spec(path)


def test_ensemble_file_members_must_be_seeds(tmp_path):
    plan = tmp_path / "plan.tsv"
    plan.write_text("K\tensemble_id\tseed\tmodel_ids\n2\t1\t7\t1,9\n")
    path = _write(tmp_path, lambda r: r["evaluate"].update(ensemble_file=str(plan)))
    with pytest.raises(SpecError, match=r"evaluate\.ensemble_file: plan\.tsv row 1: seeds \[9\]"):
        load_spec(path)


def test_paper_ensemble_file_is_accepted_with_30_seeds():
    from bdlsweep.sweeps.reading.ensemble_members import members_of, read_ensemble_file

    spec = load_spec(QUICKSTART, ["seeds=30", "evaluate.ensemble_file=ensembles_jordahn2025.tsv"])
    assert spec.ensemble_file == ROOT / "sweeps" / "ensembles_jordahn2025.tsv"  # beside the sweep files
    plan = read_ensemble_file(spec.ensemble_file)
    members = [members_of(ids) for ids in plan["model_ids"]]
    assert len(plan) > 30 and all(len(ids) == k for ids, k in zip(members, plan["K"], strict=True))
    assert {seed for ids in members for seed in ids} <= set(spec.seeds)


def test_storage_with_other_settings_is_refused_once_it_holds_results(tmp_path, capsys):
    from bdlsweep.sweeps.running.storage_guard import check_storage, record_sweep

    spec = load_spec(QUICKSTART, [f"storage={tmp_path}"])
    check_storage(spec)
    record_sweep(spec)
    changed = load_spec(QUICKSTART, [f"storage={tmp_path}", "stages.swag.epochs=3"])
    check_storage(changed)  # a run that stopped before any stage does not bind the folder
    spec.layout.stage("map").path.mkdir()
    check_storage(load_spec(QUICKSTART, [f"storage={tmp_path}", "evaluate.num_posterior_samples=80"]))
    with pytest.raises(SpecError, match=r"stages\.swag: .* different stages\.swag"):
        check_storage(changed)
    assert main(["run", str(QUICKSTART), "--dry-run", f"storage={tmp_path}", "stages.swag.epochs=3"]) == 0
    out = capsys.readouterr().out
    assert "note: a run from here would stop:" in out and "different stages.swag" in out
    assert "resumes from here" not in out


def test_a_cut_off_sweep_record_is_one_line_in_every_command(tmp_path, capsys):
    from bdlsweep.sweeps.running.storage_guard import record_sweep

    spec = load_spec(QUICKSTART, [f"storage={tmp_path}"])
    record_sweep(spec)
    text = spec.layout.record.read_text()
    spec.layout.record.write_text(text[: len(text) // 2])
    for argv in (
        ["run", str(QUICKSTART), f"storage={tmp_path}"],
        ["status", str(tmp_path)],
        ["report", str(tmp_path)],
        ["resume", str(tmp_path)],
        ["sync-mlflow", str(tmp_path)],
    ):
        assert main(argv) == 2, argv
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and "sweep.json" in error and "not readable JSON" in error, argv


def test_ood_in_splits_with_no_ood_set_is_a_one_line_error(tmp_path, capsys):
    from fake_data import write_idx

    write_idx(tmp_path / "data", "mnist")

    def mnist_without_ood(raw):
        raw["dataset"] = {"name": "mnist", "data_dir": str(tmp_path / "data"), "ood": []}
        raw["model"] = {"name": "mlp"}
        raw["evaluate"]["splits"] = ["test", "ood"]

    path = _write(tmp_path, mnist_without_ood)
    assert main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{path}: evaluate.splits: lists ood, but dataset mnist has no OOD set (dataset.ood is [])" in err
    raw = yaml.safe_load(path.read_text())
    raw["evaluate"]["splits"] = ["test"]  # without ood in the splits, an empty OOD list is what was asked
    path.write_text(yaml.safe_dump(raw))
    assert load_spec(path).dataset_options["ood"] == []


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ("stages.subspace.rank=11", "rank 11 exceeds the 10 snapshots its SWAG stage keeps"),
        ("stages.swag.epochs=4", "rank 5 exceeds the 4 snapshots its SWAG stage keeps"),
    ],
)
def test_a_subspace_of_more_dimensions_than_its_swag_keeps_snapshots_is_a_one_line_error(
    tmp_path, capsys, override, problem
):
    sweep = ROOT / "sweeps" / "digits_sampling.yaml"
    assert main(["run", str(sweep), f"storage={tmp_path / 'run'}", override, "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "stages.subspace.rank: " in err and problem in err
    assert not (tmp_path / "run").exists()
