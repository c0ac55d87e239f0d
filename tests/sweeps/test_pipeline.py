"""A tiny sweep end to end through Ray Tune and MLflow; a second run re-runs nothing."""

import logging
import re

import mlflow
import pandas as pd
import pytest
from doc_examples import run_after_quickstart
from repo_paths import ROOT

from bdlsweep.analysis import results, tables
from bdlsweep.cli import main
from bdlsweep.sweeps.pipeline import run_sweep
from bdlsweep.sweeps.spec.loading import load_spec

QUICKSTART = ROOT / "sweeps" / "quickstart.yaml"
TINY = [
    "seeds=[1,2]",
    "stages.map.epochs=3",
    "stages.swag.epochs=2",
    "stages.swag.rank=2",
    "stages.swag.val_samples=4",
    "stages.swag.search.lr=[0.01,0.003]",
    "stages.llla.search.prior_precision=[0.1,1.0,10.0]",
    "stages.llla.val_samples=10",
    "stages.laplace_nf.epochs=2",
    "stages.laplace_nf.val_samples=5",
    "stages.laplace_nf.search.num_transforms=[1,2]",
    "stages.laplace_nf.search.prior_precision=[10]",
    "stages.mc_dropout.epochs=2",
    "stages.mc_dropout.val_samples=3",
    "stages.mc_dropout.search.dropout=[0.1,0.3]",
    "evaluate.ensemble_sizes=[1,2]",
    "evaluate.ensembles_per_size=1",
    "evaluate.num_posterior_samples=6",
    "evaluate.subsample_sizes=[3,6]",
]


def _runs(spec):
    mlflow.set_tracking_uri(spec.tracking_uri)
    return mlflow.search_runs(experiment_names=[spec.experiment])


@pytest.mark.slow
def test_tiny_sweep_end_to_end_and_resume(tmp_path, ray_session, capsys, caplog, monkeypatch):
    spec = load_spec(QUICKSTART, [*TINY, f"storage={tmp_path / 'sweep'}"])
    caplog.set_level(logging.INFO, logger="bdlsweep.progress")
    outcome = run_sweep(spec)
    lines = [r.getMessage() for r in caplog.records if r.name == "bdlsweep.progress"]
    progress = [line for line in lines if not line.startswith("evaluation: ")]
    assert len(progress) == 20 and sum(line.startswith("swag [") for line in progress) == 4
    predicted = [line for line in lines if line.startswith("evaluation: ")]
    assert len(predicted) == 6 * 2
    members = {tuple(re.match(r"evaluation: (\w+) seed=(\d) predicted", line).groups()) for line in predicted}
    assert len(members) == 12
    assert [re.search(r"\((\d+)/12 members", line).group(1) for line in predicted] == [
        str(i) for i in range(1, 13)
    ]
    assert "(12/12 members, 0 left, ~0 s to go)" in predicted[-1]
    last_swag = next(line for line in progress if line.startswith("swag [4/4]"))
    assert re.fullmatch(r"swag \[4/4\] seed=\d lr=0\.0\d+: val_elpd=-\d\.\d{4} .*", last_swag)

    selections = results.selections(spec.storage)
    assert set(selections["label"]) == {"map", "swag", "swa", "llla", "laplace_nf", "mc_dropout"}
    for label in ("map", "swag", "swa", "llla", "laplace_nf", "mc_dropout"):
        assert sorted(selections[selections["label"] == label]["seed"]) == [1, 2]

    llla_trials = results.trials(spec.storage, "llla")
    assert len(llla_trials) == 6
    for seed in (1, 2):
        per_seed = llla_trials[llla_trials["config/seed"] == seed]
        best = per_seed.loc[per_seed["val_elpd"].idxmax(), "config/prior_precision"]
        chosen = selections[(selections["label"] == "llla") & (selections["seed"] == seed)]
        assert chosen["config/prior_precision"].item() == best
    swag_trials = results.trials(spec.storage, "swag")
    for label, metric in (("swag", "val_elpd"), ("swa", "swa_val_elpd")):
        for seed in (1, 2):
            per_seed = swag_trials[swag_trials["config/seed"] == seed]
            chosen = selections[(selections["label"] == label) & (selections["seed"] == seed)]
            assert chosen["config/lr"].item() == per_seed.loc[per_seed[metric].idxmax(), "config/lr"]

    runs = _runs(spec)
    trial_runs = runs[runs["tags.run_kind"] == "trial"]
    assert len(trial_runs) == 2 + 4 + 6 + 4 + 4
    assert set(trial_runs["tags.method"]) == {"map", "swag", "llla", "laplace_nf", "mc_dropout"}
    assert trial_runs[["tags.sweep", "tags.seed", "tags.dataset", "tags.model"]].notna().all().all()
    selected = set(trial_runs[trial_runs["tags.selected"] == "true"]["tags.trial_id"])
    assert selected == set(selections["trial_id"])
    map_run = trial_runs[trial_runs["tags.stage"] == "map"].iloc[0]
    history = mlflow.tracking.MlflowClient(spec.tracking_uri).get_metric_history(map_run.run_id, "val_elpd")
    assert [m.step for m in history] == [1, 2, 3]

    frame = results.ensembles(spec.storage)
    assert set(frame["method"]) == {"map", "swa", "swag", "llla", "laplace_nf", "mc_dropout"}
    test = frame[frame["split"] == "test"]
    assert set(test[test["method"] == "swag"]["num_samples"]) == {3, 6}
    assert set(test[test["method"] == "mc_dropout"]["num_samples"]) == {3, 6}
    assert set(test[test["method"] == "laplace_nf"]["num_samples"]) == {3, 6}
    assert set(test[test["method"] == "map"]["num_samples"]) == {1, 2}
    assert {"test_elpd", "test_acc", "test_ece", "shift_acc", "ood_auroc"} <= set(frame.columns)
    for path in outcome.table_files.values():
        assert path.is_file() and len(path.read_bytes()) > 0
    assert "| 2 | MultiSWAG |" in outcome.table_files["markdown"].read_text()

    assert main(["status", str(spec.storage)]) == 0
    status = capsys.readouterr().out
    assert "stage swag (swag): done; 4 done, 0 diverged, 0 failed, 0 unfinished" in status
    assert "evaluation: done" in status
    llla = selections[selections["label"] == "llla"]
    for edge, value in (("lower", 0.1), ("upper", 10.0)):
        seeds = sorted(llla[llla["config/prior_precision"] == value]["seed"])
        warned = f"warning: llla: prior_precision={value:g} is the {edge} edge of its grid for seed(s) "
        assert (warned + ", ".join(map(str, seeds))) in status if seeds else warned not in status
    assert main(["run", str(QUICKSTART), *TINY, f"storage={spec.storage}", "--dry-run"]) == 0
    assert "already in storage (a run resumes from here):\n  stage map (map): done" in capsys.readouterr().out

    assert main(["report", str(spec.storage)]) == 0
    tuning = {f"tuning_{n}.png" for n in ("swag_lr", "llla_prior_precision", "laplace_nf_num_transforms")}
    tuning |= {"tuning_mc_dropout_dropout.png"}  # laplace_nf's prior precision has one value: no curve
    report_files = {path.name for path in (spec.storage.path / "report").iterdir()}
    assert report_files == {
        "table.md", "table.csv", "table.tex", "report.html", "metric_groups.md", "metric_groups.csv",
        "metric_vs_K.png", "metric_vs_samples.png", "metric_vs_severity.png", *tuning,
        "reliability.png", "ood_histograms.png", "cost.csv", "paired.csv",
    }  # fmt: skip
    _check_cost(spec, frame)
    bins = results.reliability(spec.storage)
    per_ensemble = bins.groupby(["method", "K", "ensemble_id"])["count"].sum()
    assert len(per_ensemble) == len(tables.final_test_rows(frame)) and per_ensemble.nunique() == 1
    (sweep_run,) = runs[runs["tags.run_kind"] == "sweep"]["run_id"]
    client = mlflow.tracking.MlflowClient(spec.tracking_uri)
    planned = client.get_run(sweep_run).data.metrics
    assert planned["planned_trials"] == sum(len(results.trials(spec.storage, name)) for name in spec.stages)
    assert planned["planned_epochs.map"] == len(spec.seeds) * spec.stages["map"].settings.epochs
    assert {item.path for item in client.list_artifacts(sweep_run, "report")} == {
        f"report/{name}" for name in report_files
    }

    tree = runs[runs["tags.run_kind"].isin(["sweep", "stage", "evaluation", "ensemble"])]
    assert set(tree["status"]) == {"FINISHED"}
    parent = "tags.mlflow.parentRunId"
    stage_runs = runs[runs["tags.run_kind"] == "stage"]
    assert sorted(stage_runs["tags.stage_name"]) == sorted(spec.stages)
    assert (stage_runs[parent] == sweep_run).all()
    stage_of = dict(zip(stage_runs["tags.stage_name"], stage_runs["run_id"], strict=True))
    assert (trial_runs[parent] == trial_runs["tags.stage"].map(stage_of)).all()
    (evaluation_run,) = runs[runs["tags.run_kind"] == "evaluation"]["run_id"]
    assert runs.set_index("run_id").loc[evaluation_run, parent] == sweep_run
    ensemble_runs = runs[runs["tags.run_kind"] == "ensemble"]
    final = tables.final_test_rows(frame)
    assert len(ensemble_runs) == len(final) and (ensemble_runs[parent] == evaluation_run).all()
    logged = ensemble_runs.set_index(["params.method", "params.K", "params.ensemble_id"])["metrics.test_elpd"]
    for row in final.itertuples():
        assert logged[(row.method, str(row.K), str(row.ensemble_id))] == pytest.approx(row.test_elpd)

    checkpoints = sorted(p for p in spec.storage.path.rglob("checkpoint_*"))
    stamps = {p: p.stat().st_mtime_ns for p in spec.storage.path.joinpath("selections").iterdir()}
    again = run_sweep(spec)
    assert len(_runs(spec)) == len(runs)
    assert sorted(p for p in spec.storage.path.rglob("checkpoint_*")) == checkpoints
    assert {p: p.stat().st_mtime_ns for p in spec.storage.path.joinpath("selections").iterdir()} == stamps
    pd.testing.assert_frame_equal(again.ensembles, frame)

    (spec.storage.path / "selections" / "llla.json").unlink()
    run_sweep(spec)
    assert len(_runs(spec)[lambda r: r["tags.stage"] == "llla"]) == 6
    assert (spec.storage / "selections" / "llla.json").is_file()

    monkeypatch.chdir(ROOT)  # the docs' paths (sweeps/...) are relative to the repository
    ran = run_after_quickstart(spec.storage.path)  # the docs' snippets that read a finished sweep
    assert {"docs/analysis.md", "docs/tracking.md"} <= {name.split(":")[0] for name in ran}


def _check_cost(spec, frame) -> None:
    """The report's cost table: each method's stage's trials, their CPU-seconds (one CPU each here) over
    the grid and over the selected trials, its members' evaluation CPU-seconds, and a single model's
    weights as evaluated."""
    cost = pd.read_csv(spec.storage.path / "report" / "cost.csv", index_col="method")
    assert list(cost.index) == spec.evaluate.methods and "gpu_s" not in cost  # no stage held a GPU
    chosen = results.selections(spec.storage)
    for label, row in cost.iterrows():
        picked = chosen[chosen["label"] == label]
        trials = results.trials(spec.storage, picked["stage"].iloc[0])
        assert row["trials"] == len(trials)
        assert row["cpu_s"] == pytest.approx(trials["time_total_s"].sum()) and row["cpu_s"] > 0
        selected = trials[trials["trial_id"].isin(picked["trial_id"])]["time_total_s"].sum()
        assert row["selected_cpu_s"] == pytest.approx(selected) and row["selected_cpu_s"] <= row["cpu_s"]
        singles = tables.final_test_rows(frame)
        assert (
            row["params"] == singles[(singles["method"] == label) & (singles["K"] == 1)]["test_params"].mean()
        )
    assert cost.loc["swa", "cpu_s"] == cost.loc["swag", "cpu_s"]  # SWA is read from SWAG's trials
    members = pd.read_csv(spec.storage.path / "evaluation" / "members.csv")
    for label, row in cost.iterrows():
        predicted = members[members["method"] == label]["seconds"].sum() * spec.evaluate.resources.cpu
        assert row["eval_cpu_s"] == pytest.approx(predicted) and row["eval_cpu_s"] > 0
