"""TorchUncertainty's MNIST tutorial as a sweep: its digits variant end to end, with every metric group."""

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from repo_paths import ROOT

from bdlsweep.analysis.report import build_report
from bdlsweep.analysis.tables import final_test_rows
from bdlsweep.cli import main
from bdlsweep.sweeps.pipeline import run_sweep
from bdlsweep.sweeps.spec.loading import load_spec

SWEEP = ROOT / "sweeps" / "mnist_lenet_ensembles.yaml"
LENET = {"params": 44_426, "flops": 563_280}
PACKED_LENET = {"params": 45_672, "flops": 737_760}


@pytest.mark.slow
def test_the_tutorial_sweep_runs_offline_on_digits_and_reports_every_metric_group(tmp_path, ray_session):
    overrides = [
        "dataset={name: digits, image_size: 28, corruptions: [gaussian_noise]}",
        f"storage={tmp_path / 'lenet'}",
        "seeds=[1,2,3]",
        "stages.map.epochs=2",
        "stages.packed.epochs=2",
        "evaluate.ensemble_sizes=[1,2]",
    ]
    outcome = run_sweep(load_spec(SWEEP, overrides))
    test = final_test_rows(outcome.ensembles).set_index(["method", "K"])
    for method, single in (("map", LENET), ("packed", PACKED_LENET)):
        for size in (1, 2):
            rows = test.loc[(method, size)]
            assert (rows["test_params"] == size * single["params"]).all()
            assert (rows["test_flops"] == size * single["flops"]).all()
            assert rows["test_acc"].between(0, 1).all() and rows["test_aurc"].notna().all()
    ood = outcome.ensembles[outcome.ensembles["split"] == "ood"]
    assert set(ood["ood_set"]) == {"permuted_digits"} and ood["ood_fpr95"].notna().all()

    report = build_report(outcome.storage)
    header = (report.folder / "metric_groups.md").read_text().splitlines()[0]
    for column in ("Classification Brier", "Calibration aECE", "OOD FPR95", "Selective AUGRC"):
        assert column in header
    assert "Selective Cov@5Risk | Selective Risk@80Cov | Complexity Params | Complexity FLOPs |" in header
    assert "Metric groups" in report.files["report.html"].read_text()

    # the posterior surface through the three MAP solutions, from the command line
    storage = str(outcome.storage)
    command = ["surface", storage, "--checkpoints", "map:1", "map:2", "map:3", "--grid-size", "3"]
    assert main([*command, "--temperature", "2", "--name", "maps"]) == 0
    anchors = pd.read_csv(outcome.storage.path / "surfaces" / "maps" / "anchors.csv")
    assert anchors["checkpoint"].tolist() == ["map:1", "map:2", "map:3"]
    assert anchors[["a", "b"]].values[:2].tolist() == [[0, 0], [1, 0]] and anchors["b"].iloc[2] == 1
    client = MlflowClient(f"sqlite:///{storage}/mlflow.db")
    experiment = client.get_experiment_by_name("mnist_lenet_ensembles").experiment_id
    (run,) = client.search_runs([experiment], filter_string="tags.run_kind = 'surface'")
    assert run.data.params["temperature"] == "2.0"
    assert run.data.metrics["log_posterior_1"] == pytest.approx(anchors["log_posterior"].iloc[0])
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id, "surface")}
    assert "surface/surface.png" in artifacts
    assert main(["surface", storage, "--checkpoints", "map:1", "map:2", "map:9"]) == 2
    assert main(["surface", storage, "--checkpoints", "map:1", "map:2", "map:1"]) == 2

    # the prior study of the same model and data; both studies' plots join the report
    assert main(["prior", str(SWEEP), *overrides, "--samples", "3", "--inputs", "20"]) == 0
    (prior,) = client.search_runs([experiment], filter_string="tags.run_kind = 'prior'")
    assert prior.data.tags["mlflow.parentRunId"] == run.data.tags["mlflow.parentRunId"]  # under the sweep
    names = set(build_report(outcome.storage).files)
    assert {"surface_maps.png", "prior_class_correlations.png", "prior_shift_correlations.png"} <= names
